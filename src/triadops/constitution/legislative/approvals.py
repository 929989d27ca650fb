"""Approvals: given by people other than the requester, bound to the plan, with deadlines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, lifecycle
from triadops.constitution.legislative import rules
from triadops.constitution.legislative.service import RULES, approve_and_schedule, iso
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, OperationStatus
from triadops.domain.errors import Conflict, Forbidden
from triadops.domain.identity import Identity
from triadops.domain.operations import PlanningResult, utcnow
from triadops.storage import operations as store
from triadops.storage.records import approval
from triadops.storage.tables import ApprovalRow, OperationRow

S = OperationStatus


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

    Every gate is checked here, on the row locked for this transaction: the plan reviewed
    (`plan_hash`) must be the current plan, the deadline must not have passed, and the
    approver must be neither the requester nor the plan's last author.
    """
    row = await store.get_operation(session, operation_id, for_update=True)
    if row.status != S.AWAITING_APPROVAL.value:
        raise Conflict(f"operation {operation_id} is {row.status}, not awaiting_approval")
    if approver.name == row.requested_by:
        raise Forbidden(f"{approver.name} requested {operation_id} and cannot approve it")
    if approver.name == row.plan_author:
        raise Forbidden(
            f"{approver.name} wrote the current plan of {operation_id} and cannot approve it"
        )
    if plan_hash != row.plan_hash:
        raise Conflict(
            f"the plan of {operation_id} changed since it was reviewed: approving "
            f"{plan_hash[:12]}… but the current plan is {(row.plan_hash or '')[:12]}…; "
            "review it again",
            field="plan_hash",
        )
    now = utcnow()
    if row.approval_deadline is not None and now > row.approval_deadline:
        raise Conflict(
            f"the approval deadline of {operation_id} passed at {iso(row.approval_deadline)}",
            field="approval_deadline",
        )
    if not approver.holds(authority):
        raise Forbidden(f"{approver.name} does not hold the {authority.value} role")
    finding = PlanningResult.model_validate(row.planning_result)
    if authority not in finding.required_approvals:
        needed = ", ".join(a.value for a in finding.required_approvals)
        raise Conflict(f"{operation_id} needs approval by {needed}, not {authority.value}")
    assert row.plan_hash is not None
    existing = await store.get_approvals(session, operation_id)
    if any(a.approver == approver.name and a.plan_hash == row.plan_hash for a in existing):
        raise Conflict(f"{approver.name} already approved this plan of {operation_id}")
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
        actor=approver.name,
        event="approval",
        operation_id=operation_id,
        details={"authority": authority.value, "plan_hash": row.plan_hash},
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
