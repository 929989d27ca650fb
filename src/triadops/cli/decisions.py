"""``triad ops`` decisions on existing operations: approve, reject, cancel, amend, rule, ack.

Each works on the database here, or through the server's API in remote mode (`remote`),
and prints the same thing either way.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import closing
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.cli.context import (
    AsName,
    BadInput,
    JsonFlag,
    checked_reason,
    choice,
    local_identity,
    refuse_as,
    run,
)
from triadops.cli.outcome import Wait, finish, settle, settle_remotely
from triadops.cli.output import emit_json, render_cancel, render_outcome, render_review
from triadops.cli.remote import Remote, remote
from triadops.cli.requests import Params, Steps, step_specs, validated_steps
from triadops.constitution import lifecycle
from triadops.constitution.crown.reviews import review_change
from triadops.constitution.crown.service import acknowledge, cancel_answer, cancel_operation
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import amend_operation
from triadops.domain.enums import Authority
from triadops.domain.operations import Operation
from triadops.domain.sops import ReviewNotes
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
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Approve the plan of a pending operation under an authority (not your own request).

    The approval names the plan's hash: if the plan changed since it was shown, nothing
    is approved and the command fails, asking for a new review. With --json the plan is
    shown on stderr.
    """
    identity = local_identity(as_name)
    power = choice(Authority, authority, "--authority")
    if plan_hash is not None and not PLAN_HASH.fullmatch(plan_hash):
        raise BadInput(f"--plan-hash: {plan_hash!r} is not a sha256 hex digest")

    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            reviewed = plan_hash
            if reviewed is None:
                shown = client.operation(operation_id).operation
                render_review(shown, stderr=as_json)
                reviewed = shown.plan_hash or ""
            body = {"plan_hash": reviewed, "authority": power.value}
            answer = client.decide(operation_id, "approve", body)
            op, frozen = settle_remotely(client, answer.operation, wait=wait, quiet=as_json)
        return finish(op, frozen, as_json=as_json)

    async def work(rt: Runtime) -> tuple[Operation, bool]:
        reviewed = plan_hash
        if reviewed is None:
            async with rt.session(read_only=True) as session:
                shown = await load_operation(session, operation_id)
            render_review(shown, stderr=as_json)
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
        return await settle(rt, operation_id, wait=wait, quiet=as_json)

    op, frozen = run(work, writes=True)
    finish(op, frozen, as_json=as_json)


_DERIVED = frozenset({"constitutional_compliance", "acknowledgement"})
Decision = Callable[[AsyncSession, Runtime], Awaitable[object]]
Rendering = Callable[[Operation, bool, dict[str, Any]], None]


def _show(op: Operation, frozen: bool, extra: dict[str, Any]) -> None:
    render_outcome(op, frozen=frozen)


def _show_cancel(op: Operation, frozen: bool, extra: dict[str, Any]) -> None:
    note = extra.get("cancel")
    render_cancel(op, frozen=frozen, note=note if isinstance(note, str) else None)


def _decide(
    operation_id: str,
    decision: Decision,
    *,
    as_json: bool,
    remotely: Callable[[Remote], Any] | None = None,
    render: Rendering = _show,
    said: dict[str, Any] | None = None,
) -> None:
    """Apply one decision (here in its own transaction, or on the server) and show the result.

    `said` is what a local decision adds to its answer (as the server's answer carries it).
    """
    client = remote()
    extra: dict[str, Any] = {}
    if client is not None:
        assert remotely is not None, "every decision has its API call"
        with closing(client):
            answer = remotely(client)
            op, frozen = answer.operation, client.frozen()
            extra = answer.extra
    else:

        async def work(rt: Runtime) -> tuple[Operation, bool]:
            async with rt.session() as session:
                await decision(session, rt)
                await lifecycle.commit(session)
            return await settle(rt, operation_id, wait=False)

        op, frozen = run(work, writes=True)
        extra = dict(said or {})
    if as_json:
        # The view's derived fields are left out, so both modes print the same object.
        said = {k: v for k, v in extra.items() if k not in _DERIVED}
        emit_json(op.model_dump(mode="json") | said)
    else:
        render(op, frozen, extra)


def reject(
    operation_id: str,
    reason: Annotated[str, typer.Option(help="Why; kept on the record.")],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Reject an operation that awaits approval."""
    by = local_identity(as_name)
    reason = checked_reason(reason)
    _decide(
        operation_id,
        lambda s, rt: reject_operation(s, operation_id=operation_id, by=by, reason=reason),
        as_json=as_json,
        remotely=_remotely(as_name, operation_id, "reject", {"reason": reason}),
    )


def cancel(
    operation_id: str,
    reason: Annotated[str | None, typer.Option(help="Why; kept on the record.")] = None,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Cancel an operation; a running step stops now if it can, or else when it ends."""
    by = local_identity(as_name)
    if reason is not None:
        reason = checked_reason(reason)
    said: dict[str, Any] = {}

    async def decide(s: AsyncSession, rt: Runtime) -> None:
        row = await cancel_operation(s, operation_id=operation_id, by=by, reason=reason)
        said["cancel"] = await cancel_answer(s, row, actions=rt.powers.actions)

    _decide(
        operation_id,
        decide,
        as_json=as_json,
        remotely=_remotely(as_name, operation_id, "cancel", {"reason": reason} if reason else None),
        render=_show_cancel,
        said=said,
    )


def amend(
    ctx: typer.Context,
    operation_id: str,
    steps: Steps = None,
    params: Params = None,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Replace the steps of a plan that has not started; earlier approvals become void."""
    by = local_identity(as_name)
    if not steps:
        raise BadInput("give at least one --step ACTION")
    specs = validated_steps(step_specs(ctx, steps, params or []))

    def remotely(client: Remote) -> Any:
        refuse_as(as_name)
        body = {"steps": [s.model_dump(mode="json") for s in specs]}
        return client.amend(operation_id, body)

    _decide(
        operation_id,
        lambda s, rt: amend_operation(s, rt.powers, operation_id=operation_id, steps=specs, by=by),
        as_json=as_json,
        remotely=remotely,
    )


def resolve(
    operation_id: str,
    succeeded: Annotated[
        bool, typer.Option("--succeeded/--failed", help="Did the interrupted step take effect?")
    ],
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Rule on an in-doubt operation's interrupted step (judicial)."""
    by = local_identity(as_name)
    _decide(
        operation_id,
        lambda s, rt: resolve_in_doubt(
            s, operation_id=operation_id, step_succeeded=succeeded, by=by
        ),
        as_json=as_json,
        remotely=_remotely(as_name, operation_id, "resolve", {"step_succeeded": succeeded}),
    )


def ack(operation_id: str, as_json: JsonFlag = False, as_name: AsName = None) -> None:
    """Acknowledge an emergency operation (crown; not its requester)."""
    by = local_identity(as_name)
    _decide(
        operation_id,
        lambda s, rt: acknowledge(s, operation_id=operation_id, by=by),
        as_json=as_json,
        remotely=_remotely(as_name, operation_id, "acknowledge", None),
    )


def review(
    operation_id: str,
    lessons: Annotated[str, typer.Option(help="Lessons learned; kept on the record.")],
    note: Annotated[str | None, typer.Option(help="A note beside them.")] = None,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Record the crown's post-change review of a change that ended (not your own request)."""
    by = local_identity(as_name)
    notes = _review_notes(lessons, note)
    _decide(
        operation_id,
        lambda s, rt: review_change(s, operation_id=operation_id, by=by, notes=notes),
        as_json=as_json,
        remotely=_remotely(
            as_name, operation_id, "review", notes.model_dump(mode="json", exclude_none=True)
        ),
    )


def _review_notes(lessons: str, note: str | None) -> ReviewNotes:
    """The review under the API's rules; BadInput naming the flag otherwise."""
    try:
        return ReviewNotes(lessons=lessons, note=note)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BadInput(f"--{error['loc'][0]}: {error['msg']}") from None


def _remotely(
    as_name: str | None, operation_id: str, verb: str, body: dict[str, Any] | None
) -> Callable[[Remote], Any]:
    """Return the API call that makes this decision on the server."""

    def call(client: Remote) -> Any:
        refuse_as(as_name)
        return client.decide(operation_id, verb, body)

    return call
