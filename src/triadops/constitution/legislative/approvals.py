"""Approvals: given by people other than the requester, bound to the plan, with deadlines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, lifecycle
from triadops.constitution.guards import Rule, enforce
from triadops.constitution.legislative import rules
from triadops.constitution.legislative.service import RULES, approve_and_schedule, iso
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, OperationStatus
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.events import Approval
from triadops.domain.identity import Identity
from triadops.domain.operations import PlanningResult, utcnow
from triadops.storage import operations as store
from triadops.storage.records import approval
from triadops.storage.tables import ApprovalRow, OperationRow

S = OperationStatus


@dataclass(frozen=True, slots=True)
class ApprovalAttempt:
    """Everything the approval rules look at, read under the lock the approval commits with."""

    row: OperationRow
    approver: Identity
    authority: Authority
    plan_hash: str
    now: datetime
    finding: PlanningResult
    existing: list[ApprovalRow]


ApprovalRule = Rule[ApprovalAttempt]
"""A guard on the move from awaiting_approval: the refusal, or None to let it pass."""


def awaiting_approval(a: ApprovalAttempt) -> TriadError | None:
    """Only an operation waiting for approval can be approved; anything else is decided."""
    if a.row.status == S.AWAITING_APPROVAL.value:
        return None
    return Conflict(f"operation {a.row.id} is {a.row.status}, not awaiting_approval")


def not_the_requester(a: ApprovalAttempt) -> TriadError | None:
    """Separation of duties: nobody approves what they asked for."""
    if a.approver.name != a.row.requested_by:
        return None
    return Forbidden(f"{a.approver.name} requested {a.row.id} and cannot approve it")


def not_the_author(a: ApprovalAttempt) -> TriadError | None:
    """Whoever last wrote the plan is its author and may not approve it either."""
    if a.approver.name != a.row.plan_author:
        return None
    return Forbidden(
        f"{a.approver.name} wrote the current plan of {a.row.id} and cannot approve it"
    )


def reviewed_plan_is_current(a: ApprovalAttempt) -> TriadError | None:
    """An approval lands only on the plan its approver saw, named by its hash."""
    if a.plan_hash == a.row.plan_hash:
        return None
    return Conflict(
        f"the plan of {a.row.id} changed since it was reviewed: approving "
        f"{a.plan_hash[:12]}… but the current plan is {(a.row.plan_hash or '')[:12]}…; "
        "review it again",
        field="plan_hash",
    )


def before_the_deadline(a: ApprovalAttempt) -> TriadError | None:
    """An unanswered request expires; a late approval never revives it."""
    deadline = a.row.approval_deadline
    if deadline is None or a.now <= deadline:
        return None
    return Conflict(
        f"the approval deadline of {a.row.id} passed at {iso(deadline)}",
        field="approval_deadline",
    )


def holds_the_authority(a: ApprovalAttempt) -> TriadError | None:
    """A power belongs to an authority: the approver must hold the one they act under."""
    if a.approver.holds(a.authority):
        return None
    return Forbidden(f"{a.approver.name} does not hold the {a.authority.value} role")


def authority_is_required(a: ApprovalAttempt) -> TriadError | None:
    """Only the authorities the review asked for may approve."""
    if a.authority in a.finding.required_approvals:
        return None
    needed = ", ".join(x.value for x in a.finding.required_approvals)
    return Conflict(f"{a.row.id} needs approval by {needed}, not {a.authority.value}")


def one_approval_per_principal(a: ApprovalAttempt) -> TriadError | None:
    """One principal covers one authority: two approvals need two people."""
    if not any(
        e.approver == a.approver.name and e.plan_hash == a.row.plan_hash for e in a.existing
    ):
        return None
    return Conflict(f"{a.approver.name} already approved this plan of {a.row.id}")


APPROVAL_RULES: tuple[ApprovalRule, ...] = (
    awaiting_approval,
    not_the_requester,
    not_the_author,
    reviewed_plan_is_current,
    before_the_deadline,
    holds_the_authority,
    authority_is_required,
    one_approval_per_principal,
)
"""Checked in this order on every approval, in the transaction that records it."""


async def approve_operation(
    session: AsyncSession,
    powers: Powers,
    *,
    operation_id: str,
    approver: Identity,
    authority: Authority,
    plan_hash: str,
) -> OperationRow:
    """Record an approval of the plan the approver reviewed; approve once all are in.

    Every rule of APPROVAL_RULES is checked here, on the row locked for this transaction.
    """
    row = await store.get_operation(session, operation_id, for_update=True)
    attempt = ApprovalAttempt(
        row=row,
        approver=approver,
        authority=authority,
        plan_hash=plan_hash,
        now=utcnow(),
        finding=PlanningResult.model_validate(row.planning_result or {"approved": False}),
        existing=await store.get_approvals(session, operation_id),
    )
    enforce(APPROVAL_RULES, attempt)
    assert row.plan_hash is not None
    finding, existing, now = attempt.finding, attempt.existing, attempt.now
    new = ApprovalRow(
        operation_id=operation_id,
        approver=approver.name,
        authority=authority.value,
        plan_hash=row.plan_hash,
        at=now,
    )
    session.add(new)
    ledger.record(
        session,
        Approval(authority=authority.value, plan_hash=row.plan_hash),
        actor=approver.name,
        operation_id=operation_id,
    )
    missing = rules.missing_approvals(
        finding.required_approvals,
        [approval(a) for a in [*existing, new]],
        plan_hash=row.plan_hash,
        authors=rules.plan_authors(row.requested_by, row.plan_author),
    )
    if not missing:
        approve_and_schedule(session, row, actor=approver.name, reason="all approvals given")
    return row


async def reject_operation(
    session: AsyncSession, *, operation_id: str, by: Identity, reason: str
) -> OperationRow:
    """Refuse a pending operation, with the reason on the record."""
    row = await store.get_operation(session, operation_id, for_update=True)
    if row.status != S.AWAITING_APPROVAL.value:
        raise Conflict(f"operation {operation_id} is {row.status}, not awaiting_approval")
    if not by.holds(Authority.LEGISLATIVE) and not by.holds(Authority.CROWN):
        raise Forbidden(f"{by.name} holds neither the legislative nor the crown role")
    lifecycle.transition(session, row, S.REJECTED, actor=by.name, reason=reason)
    return row


async def expire_approvals(session: AsyncSession, *, now: datetime) -> int:
    """Reject every operation whose approval deadline passed unanswered; never approve."""
    rows = await store.expired_approvals(session, now=now)
    for row in rows:
        deadline = iso(row.approval_deadline)
        lifecycle.transition(
            session, row, S.REJECTED, actor=RULES, reason=f"approval deadline {deadline} passed"
        )
    return len(rows)
