"""Operation and step states, their rule books, and the functions every change goes through.

Each branch registers the rules that guard its edges in :data:`OPERATIONS` or :data:`STEPS`
beside its service (the branches never import each other, so the books cannot import
them); :func:`transition` and :func:`step_transition` enforce them on every change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import ClassVar, NamedTuple

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, subscribers
from triadops.constitution.sops import SopCatalogue
from triadops.domain.enums import Authority
from triadops.domain.enums import OperationStatus as S
from triadops.domain.enums import StepStatus as St
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.events import StepEvent, Transition, parse_event
from triadops.domain.identity import Identity
from triadops.domain.operations import PlanningResult, utcnow
from triadops.domain.rules import Rule, RuleBook
from triadops.domain.windows import Blackout, MaintenanceWindow
from triadops.storage.tables import ApprovalRow, OperationRow, StepRow

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


class Attempt(NamedTuple):
    """A change of an operation's state, as its rules see it.

    A NamedTuple rather than a frozen dataclass: as immutable, and built in a fifth of the
    time (one is made for every transition).
    """

    row: OperationRow
    actor: str
    """Who the ledger names: a principal, or a branch acting by its rules."""
    by: Identity | None = None
    """The principal who asks, when one does; None when a branch carries out a decision
    already taken (by the rules, a recorded request, a ruling or a probe)."""
    now: datetime | None = None
    """When the attempt was read, for the rules that weigh deadlines and leases."""
    plan_hash: str | None = None
    """The plan an approver reviewed, named by its hash."""
    authority: Authority | None = None
    """The authority an approver acts under (set on approvals only)."""
    finding: PlanningResult | None = None
    """The review's finding an approval answers."""
    existing: tuple[ApprovalRow, ...] = ()
    """The approvals already given, before this one."""
    request: Mapping[str, object] | None = None
    """The request as an amendment read it, before drafting its plan outside the lock."""
    sops: SopCatalogue | None = None
    """The SOPs in force, when the legislature concludes a review (its plan must fit them)."""
    blackouts: Sequence[Blackout] | None = None
    """The blackouts in force, when the executive starts a scheduled operation."""
    windows: Sequence[MaintenanceWindow] | None = None
    """The maintenance windows in force, when the executive starts a scheduled operation."""


class StepAttempt(NamedTuple):
    """A change of a step's state, as its rules see it (a NamedTuple, as `Attempt` is)."""

    step: StepRow
    actor: str
    by: Identity | None = None
    """The principal who asks (a ruling); None when a branch acts by its rules."""


OperationRule = Rule[S, Attempt]
StepRule = Rule[St, StepAttempt]


class RequesterOr(OperationRule):
    """A power over a request that its requester holds too: the other holder is `authority`."""

    authority: ClassVar[Authority]

    def check(self, attempt: Attempt) -> TriadError | None:
        """Let the requester and a holder of `authority` through; a branch's own act too."""
        row, by = attempt.row, attempt.by
        if by is None or by.name == row.requested_by or by.holds(self.authority):
            return None
        return Forbidden(
            f"{by.name} neither requested {row.id} nor holds the {self.authority.value} role"
        )


OPERATIONS: RuleBook[S, Attempt] = RuleBook("operation", TRANSITIONS, [])
"""The operation's edges and the gates the branches register on them."""
STEPS: RuleBook[St, StepAttempt] = RuleBook("step", STEP_TRANSITIONS, [])
"""The step's edges and the gates the branches register on them."""


def can_transition(source: S, target: S) -> bool:
    """True when the lifecycle allows moving from `source` to `target`."""
    return target in TRANSITIONS[source]


def transition(
    session: AsyncSession,
    attempt: Attempt,
    target: S,
    *,
    reason: str | None = None,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Move an operation to `target`, if its rules allow, and queue the ledger entry.

    The entry is linked when the caller commits with :func:`commit`, so the state and its
    record land in the same transaction or not at all.
    """
    row, actor = attempt.row, attempt.actor
    source = S(row.status)
    if not can_transition(source, target):
        raise Conflict(
            f"operation {row.id} is {source.value}; it cannot become {target.value}",
            field="status",
        )
    OPERATIONS.enforce(source, target, attempt)
    now = utcnow()
    # How long the operation stayed in `source`: the branch's stage time, which /metrics and
    # the health report fold from the ledger (updated_at changes only with the state).
    stage_s = max(0.0, (now - row.updated_at).total_seconds()) if row.updated_at else 0.0
    row.status = target.value
    row.status_reason = reason
    row.updated_at = now
    body: dict[str, JsonValue] = {"from_status": source.value, "to_status": target.value}
    if reason:
        body["reason"] = reason
    body["stage_s"] = round(stage_s, 6)
    moved = Transition.validated({**body, **details} if details else body)
    ledger.record(session, moved, actor=actor, operation_id=row.id, at=now)


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
    by: Identity | None = None,
) -> bool:
    """Fail an operation and, when some step took effect, start its rollback at once.

    The one fail-and-roll-back path, whoever fails the operation (a step, the judiciary, a
    ruling, a cancel): the rollback starts in the same transaction. Returns whether it did.
    """
    transition(session, Attempt(row, actor, by), S.FAILED, reason=reason)
    if not any(step.status in UNDOABLE for step in steps):
        return False
    transition(session, Attempt(row, undo_actor), S.ROLLING_BACK, reason=reason)
    return True


def step_transition(
    session: AsyncSession,
    attempt: StepAttempt,
    target: St,
    *,
    event: str,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Move a step to `target`, if its rules allow, and queue the ledger entry (`event`).

    Every entry names the step's new status, so verification can replay each step's state
    from the ledger and compare it with the stored row.
    """
    step, actor = attempt.step, attempt.actor
    source = St(step.status)
    if target not in STEP_TRANSITIONS[source]:
        raise Conflict(
            f"step {step.index} of {step.operation_id} is {source.value}; "
            f"it cannot become {target.value}",
            field="status",
        )
    STEPS.enforce(source, target, attempt)
    said = {"step": step.index, "action": step.action, "status": target.value}
    recorded = parse_event(event, {**said, **(details or {})})
    if not isinstance(recorded, StepEvent):
        raise TypeError(f"{event} is not a step's event")
    step.status = target.value
    session.add(step)
    ledger.record(session, recorded, actor=actor, operation_id=step.operation_id)


async def commit(session: AsyncSession) -> None:
    """Link the queued ledger entries and commit, as one transaction.

    The commit subscribers the runtime registered (``constitution.subscribers``: change
    silences, worker wake-ups) see the queued entries first, in the same transaction.
    """
    mark = ledger.linked_mark(session)
    await session.flush()
    await subscribers.on_commit(session, ledger.queued(session))
    await ledger.flush(session)
    await session.commit()
    ledger.log_linked(session, mark)
