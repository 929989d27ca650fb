"""``triad ops`` decisions on existing operations: approve, reject, cancel, amend, rule, ack."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.cli.context import AsName, BadInput, checked_reason, choice, local_identity, run
from triadops.cli.outcome import Wait, finish, settle
from triadops.cli.output import render_outcome, render_review
from triadops.cli.requests import Params, Steps, step_specs, validated_steps
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import acknowledge, cancel_answer, cancel_operation
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import amend_operation
from triadops.domain.enums import Authority
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.storage.records import load_operation

PLAN_HASH = re.compile(r"^[0-9a-f]{64}$")


def approve(
    operation_id: str,
    authority: Annotated[str, typer.Option(help="legislative or crown.")] = "legislative",
    plan_hash: Annotated[
        str | None,
        typer.Option(
            metavar="HASH",
            help="The plan hash you reviewed (from `triad ops show`). Without it the plan is "
            "shown here and the approval names the hash of what was shown.",
        ),
    ] = None,
    wait: Wait = False,
    as_name: AsName = None,
) -> None:
    """Approve the plan of a pending operation under an authority (not your own request).

    The approval names the plan's hash: if the plan changed since it was shown, nothing
    is approved and the command fails, asking for a new review.
    """
    identity = local_identity(as_name)
    power = choice(Authority, authority, "--authority")
    if plan_hash is not None and not PLAN_HASH.fullmatch(plan_hash):
        raise BadInput(f"--plan-hash: {plan_hash!r} is not a sha256 hex digest")

    async def work(rt: Runtime) -> tuple[Operation, bool]:
        reviewed = plan_hash
        if reviewed is None:
            async with rt.session(read_only=True) as session:
                shown = await load_operation(session, operation_id)
            render_review(shown)
            reviewed = shown.plan_hash or ""
        async with rt.session() as session:
            await approve_operation(
                session,
                rt.powers,
                operation_id=operation_id,
                approver=identity,
                authority=power,
                plan_hash=reviewed,
            )
            await lifecycle.commit(session)
        return await settle(rt, operation_id, wait=wait)

    op, frozen = run(work)
    finish(op, frozen)


Decision = Callable[[AsyncSession, Runtime], Awaitable[object]]


def _decide(operation_id: str, decision: Decision) -> None:
    """Apply one decision in its own transaction and show where the operation stands."""

    async def work(rt: Runtime) -> tuple[Operation, bool]:
        async with rt.session() as session:
            await decision(session, rt)
            await lifecycle.commit(session)
        return await settle(rt, operation_id, wait=False)

    op, frozen = run(work)
    render_outcome(op, frozen=frozen)


def reject(
    operation_id: str,
    reason: Annotated[str, typer.Option(help="Why; kept on the record.")],
    as_name: AsName = None,
) -> None:
    """Reject an operation that awaits approval."""
    by = local_identity(as_name)
    reason = checked_reason(reason)
    _decide(
        operation_id,
        lambda s, rt: reject_operation(s, operation_id=operation_id, by=by, reason=reason),
    )


def cancel(
    operation_id: str,
    reason: Annotated[str | None, typer.Option(help="Why; kept on the record.")] = None,
    as_name: AsName = None,
) -> None:
    """Cancel an operation; a running step stops now if it can, or else when it ends."""
    by = local_identity(as_name)
    if reason is not None:
        reason = checked_reason(reason)
    said: list[str] = []

    async def decide(s: AsyncSession, rt: Runtime) -> None:
        row = await cancel_operation(s, operation_id=operation_id, by=by, reason=reason)
        said.append(await cancel_answer(s, row, actions=rt.powers.actions))

    _decide(operation_id, decide)
    if said[0] != "cancelled":  # already shown as the status
        typer.echo(f"  next: {said[0]}")


def amend(
    ctx: typer.Context,
    operation_id: str,
    steps: Steps = None,
    params: Params = None,
    as_name: AsName = None,
) -> None:
    """Replace the steps of a plan that has not started; earlier approvals become void."""
    by = local_identity(as_name)
    if not steps:
        raise BadInput("give at least one --step ACTION")
    specs = validated_steps(step_specs(ctx, steps, params or []))
    _decide(
        operation_id,
        lambda s, rt: amend_operation(s, rt.powers, operation_id=operation_id, steps=specs, by=by),
    )


def resolve(
    operation_id: str,
    succeeded: Annotated[
        bool, typer.Option("--succeeded/--failed", help="Did the interrupted step take effect?")
    ],
    as_name: AsName = None,
) -> None:
    """Rule on an in-doubt operation's interrupted step (judicial)."""
    by = local_identity(as_name)
    _decide(
        operation_id,
        lambda s, rt: resolve_in_doubt(
            s, operation_id=operation_id, step_succeeded=succeeded, by=by
        ),
    )


def ack(operation_id: str, as_name: AsName = None) -> None:
    """Acknowledge an emergency operation (crown; not its requester)."""
    by = local_identity(as_name)
    _decide(operation_id, lambda s, rt: acknowledge(s, operation_id=operation_id, by=by))
