"""Operation states and the one function every change of state goes through."""

from __future__ import annotations

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, subscribers
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus as St
from triadops.domain.errors import Conflict
from triadops.domain.operations import utcnow
from triadops.storage.tables import OperationRow, StepRow

TRANSITIONS: dict[S, frozenset[S]] = {
    S.SUBMITTED: frozenset({S.REVIEWING, S.CANCELLED}),
    S.REVIEWING: frozenset({S.APPROVED, S.AWAITING_APPROVAL, S.REJECTED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED, S.REVIEWING}),
    S.APPROVED: frozenset({S.SCHEDULED, S.CANCELLED, S.REVIEWING}),
    # Back to reviewing: the plan changed, or its approvals no longer cover it. Failed: the
    # stored plan is not the approved one, so the executive refuses to run it.
    S.SCHEDULED: frozenset({S.EXECUTING, S.CANCELLED, S.REVIEWING, S.FAILED}),
    S.EXECUTING: frozenset({S.VALIDATING, S.FAILED, S.IN_DOUBT}),
    # In doubt: a non-idempotent step was interrupted; a probe or a human says how it ended.
    S.IN_DOUBT: frozenset({S.EXECUTING, S.FAILED}),
    S.VALIDATING: frozenset({S.COMPLETED, S.FAILED}),
    # Failed is final unless completed steps can be undone, in the same transaction.
    S.FAILED: frozenset({S.ROLLING_BACK}),
    S.ROLLING_BACK: frozenset({S.ROLLED_BACK, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.ROLLED_BACK: frozenset(),
    S.CANCELLED: frozenset(),
}


STEP_TRANSITIONS: dict[St, frozenset[St]] = {
    St.PENDING: frozenset({St.RUNNING}),
    # Running again: an idempotent step resumed after its worker died. Cancelled: the
    # operation's cancel interrupted it (its action unwinds what it began, as on failure).
    St.RUNNING: frozenset({St.RUNNING, St.SUCCEEDED, St.FAILED, St.CANCELLED}),
    # Skipped: an irreversible step met during rollback stays as it is.
    St.SUCCEEDED: frozenset({St.ROLLING_BACK, St.SKIPPED}),
    St.ROLLING_BACK: frozenset({St.ROLLING_BACK, St.ROLLED_BACK, St.ROLLBACK_FAILED}),
    St.FAILED: frozenset(),
    St.ROLLED_BACK: frozenset(),
    St.ROLLBACK_FAILED: frozenset(),
    St.SKIPPED: frozenset(),
    St.CANCELLED: frozenset(),
}


def can_transition(source: S, target: S) -> bool:
    """True when the lifecycle allows moving from `source` to `target`."""
    return target in TRANSITIONS[source]


def transition(
    session: AsyncSession,
    row: OperationRow,
    target: S,
    *,
    actor: str,
    reason: str | None = None,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Move an operation to `target` and queue the ledger entry that records it.

    The entry is linked when the caller commits with :func:`commit`, so the state and its
    record land in the same transaction or not at all.
    """
    source = S(row.status)
    if not can_transition(source, target):
        raise Conflict(
            f"operation {row.id} is {source.value}; it cannot become {target.value}",
            field="status",
        )
    now = utcnow()
    # How long the operation stayed in `source`: the branch's stage time, which /metrics and
    # the health report fold from the ledger (updated_at changes only with the state).
    stage_s = max(0.0, (now - row.updated_at).total_seconds()) if row.updated_at else 0.0
    row.status = target.value
    row.status_reason = reason
    row.updated_at = now
    body: dict[str, JsonValue] = {"reason": reason} if reason else {}
    body["stage_s"] = round(stage_s, 6)
    ledger.record(
        session,
        actor=actor,
        event="transition",
        operation_id=row.id,
        from_status=source.value,
        to_status=target.value,
        details={**body, **(details or {})},
        at=now,
    )


UNDOABLE = (St.SUCCEEDED.value, St.ROLLING_BACK.value)
"""Steps a rollback still has to visit: done, or caught in the middle of their undo."""


def fail(
    session: AsyncSession,
    row: OperationRow,
    steps: list[StepRow],
    *,
    actor: str,
    reason: str,
    undo_actor: str,
) -> bool:
    """Fail an operation and, when some step took effect, start its rollback at once.

    The one fail-and-roll-back path, whoever fails the operation (a step, the judiciary, a
    ruling, a cancel): the rollback starts in the same transaction. Returns whether it did.
    """
    transition(session, row, S.FAILED, actor=actor, reason=reason)
    if not any(step.status in UNDOABLE for step in steps):
        return False
    transition(session, row, S.ROLLING_BACK, actor=undo_actor, reason=reason)
    return True


def step_transition(
    session: AsyncSession,
    step: StepRow,
    target: St,
    *,
    actor: str,
    event: str,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Move a step to `target` and queue the ledger entry (`event`) that records it.

    Every entry names the step's new status, so verification can replay each step's state
    from the ledger and compare it with the stored row.
    """
    source = St(step.status)
    if target not in STEP_TRANSITIONS[source]:
        raise Conflict(
            f"step {step.index} of {step.operation_id} is {source.value}; "
            f"it cannot become {target.value}",
            field="status",
        )
    step.status = target.value
    session.add(step)
    ledger.record(
        session,
        actor=actor,
        event=event,
        operation_id=step.operation_id,
        details={
            "step": step.index,
            "action": step.action,
            "status": target.value,
            **(details or {}),
        },
    )


async def commit(session: AsyncSession) -> None:
    """Link the queued ledger entries and commit, as one transaction.

    The commit subscribers the runtime registered (``constitution.subscribers``: change
    silences, worker wake-ups) see the queued entries first, in the same transaction.
    """
    await session.flush()
    await subscribers.on_commit(session, ledger.pending(session))
    await ledger.flush(session)
    await session.commit()
