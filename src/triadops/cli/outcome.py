"""Where an operation ends up: driven here with ``--wait``, reported, and the exit code."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from triadops.cli.output import console, emit_json, render_outcome
from triadops.constitution.crown.service import is_frozen
from triadops.constitution.driver import wait_for_operation
from triadops.constitution.worker import worker_name
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.storage.records import load_operation

Wait = Annotated[
    bool, typer.Option("--wait", help="Drive the operation here until it ends or must wait.")
]


async def settle(
    rt: Runtime, operation_id: str, *, wait: bool, quiet: bool = False
) -> tuple[Operation, bool]:
    """Return the operation and whether the crown froze work.

    With `wait`, this process drives the operation itself until it is final or waits on a
    human, a window or a freeze; leases keep it safe beside a running worker or server.
    """
    if wait:
        spinner = console(stderr=True).status(f"{operation_id}: driving the operation")
        with nullcontext() if quiet else spinner:
            await wait_for_operation(rt.powers, operation_id, drive=True, owner=worker_name())
    async with rt.session(read_only=True) as session:
        return await load_operation(session, operation_id), await is_frozen(session)


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
