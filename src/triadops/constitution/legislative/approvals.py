"""Approvals: given by people other than the requester, bound to the plan, with deadlines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.crown import ledger
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
) -> OperationRow:
    """Record an approval bound to the current plan; approve once all required are in."""
    row = await store.get_operation(session, operation_id, for_update=True)
    if row.status != S.AWAITING_APPROVAL.value:
        raise Conflict(f"operation {operation_id} is {row.status}, not awaiting_approval")
    if approver.name == row.requested_by:
        raise Forbidden(f"{approver.name} requested {operation_id} and cannot approve it")
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
        at=utcnow(),
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
        requested_by=row.requested_by,
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
