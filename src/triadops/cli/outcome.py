"""Where an operation ends up: driven here (or watched on a server) with ``--wait``, reported."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from triadops.cli.output import emit_json, render_outcome
from triadops.cli.progress import Progress
from triadops.cli.remote import Remote
from triadops.constitution.crown.service import is_frozen
from triadops.domain.clock import utcnow
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.storage.records import load_operation
from triadops.worker import WAITING, wait_for_operation, worker_name

Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Wait until the operation ends or must wait, showing its current step "
        "(locally this process drives it; remotely the server's worker does).",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Show plan, previews and risk; store nothing.")
]
POLL_S = 0.25
"""How often a waiting CLI reads the operation again to redraw its progress."""


async def settle(
    rt: Runtime, operation_id: str, *, wait: bool, quiet: bool = False
) -> tuple[Operation, bool]:
    """Return the operation and whether the crown froze work.

    With `wait`, this process drives the operation itself until it is final or waits on a
    human, a window or a freeze; leases keep it safe beside a running worker or server.
    """
    if wait:
        with Progress(operation_id, quiet=quiet) as progress:
            watching = asyncio.create_task(_watch(rt, operation_id, progress))
            try:
                await wait_for_operation(rt.powers, operation_id, drive=True, owner=worker_name())
            finally:
                watching.cancel()
    async with rt.session(read_only=True) as session:
        return await load_operation(session, operation_id), await is_frozen(session)


async def _watch(rt: Runtime, operation_id: str, progress: Progress) -> None:
    """Redraw the progress line from the stored operation until cancelled."""
    if not progress.showing:
        return
    while True:
        async with rt.session(read_only=True) as session:
            progress.show(await load_operation(session, operation_id))
        await asyncio.sleep(POLL_S)


def settle_remotely(
    client: Remote, op: Operation, *, wait: bool, quiet: bool = False
) -> tuple[Operation, bool]:
    """Return the operation as the server has it and whether the crown froze work.

    With `wait`, read it again until it is final or waits on a human, its time or a
    freeze; the server's worker drives it.
    """
    frozen = client.frozen()
    if not wait:
        return op, frozen
    with Progress(op.operation_id, quiet=quiet) as progress:
        while not _settled(op, frozen=frozen):
            progress.show(op)
            time.sleep(POLL_S)
            op = client.operation(op.operation_id).operation
            frozen = client.frozen()
    return op, frozen


def _settled(op: Operation, *, frozen: bool) -> bool:
    """True when waiting longer would not move `op` on (as `wait_for_operation` decides)."""
    status = op.status
    if status.is_final or status in WAITING:
        return True
    due = op.request.scheduled_time
    if status is OperationStatus.SCHEDULED and due is not None and due > utcnow():
        return True
    return frozen and status in (OperationStatus.SCHEDULED, OperationStatus.EXECUTING)


def finish(op: Operation, frozen: bool, *, as_json: bool = False) -> None:
    """Print the outcome; exit 1 when the operation ended in anything but completion.

    An operation still waiting (on approval, a ruling, its time or a freeze) exits 0 with
    a note saying what it waits on.
    """
    if as_json:
        emit_json(op)
    else:
        render_outcome(op, frozen=frozen)
    if op.status.is_final and op.status is not OperationStatus.COMPLETED:
        raise typer.Exit(1)
