"""Approvals: given by people other than the requester, bound to the plan, with deadlines."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, lifecycle
from triadops.constitution.legislative import rules
from triadops.constitution.legislative.submission import RULES, approve_and_schedule, iso
from triadops.constitution.lifecycle import Attempt, OperationRule
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


_APPROVED = frozenset({S.APPROVED})


class ApprovalRule(OperationRule):
    """A guard on an approval: checked for each one given, and again as the last one lands.

    It weighs approvals only (`authority` set); the rules approving a plan that needs no
    person pass through.
    """

    to_states = _APPROVED

    def check(self, attempt: Attempt) -> TriadError | None:
        if attempt.authority is None or attempt.by is None or attempt.finding is None:
            return None
        return self.refuse(attempt, attempt.by, attempt.authority, attempt.finding)

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        """Return the refusal of this approval, or None."""
        raise NotImplementedError


class AwaitingApproval(ApprovalRule):
    """Only an operation waiting for approval can be approved; anything else is decided."""

    reason = "only an operation waiting for approval can be approved"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if a.row.status == S.AWAITING_APPROVAL.value:
            return None
        return Conflict(f"operation {a.row.id} is {a.row.status}, not awaiting_approval")


class NotTheRequester(ApprovalRule):
    """Separation of duties: nobody approves what they asked for."""

    reason = "separation of duties: nobody approves what they asked for"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if approver.name != a.row.requested_by:
            return None
        return Forbidden(f"{approver.name} requested {a.row.id} and cannot approve it")


class NotTheAuthor(ApprovalRule):
    """Whoever last wrote the plan is its author and may not approve it either."""

    reason = "whoever last wrote the plan may not approve it"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if approver.name != a.row.plan_author:
            return None
        return Forbidden(
            f"{approver.name} wrote the current plan of {a.row.id} and cannot approve it"
        )


class ReviewedPlanIsCurrent(ApprovalRule):
    """An approval lands only on the plan its approver saw, named by its hash."""

    reason = "an approval lands only on the plan its approver saw"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        named = a.plan_hash or ""
        if named == a.row.plan_hash:
            return None
        return Conflict(
            f"the plan of {a.row.id} changed since it was reviewed: approving "
            f"{named[:12]}… but the current plan is {(a.row.plan_hash or '')[:12]}…; "
            "review it again",
            field="plan_hash",
        )


class BeforeTheDeadline(ApprovalRule):
    """An unanswered request expires; a late approval never revives it."""

    reason = "an unanswered request expires; a late approval never revives it"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        deadline = a.row.approval_deadline
        if deadline is None or (a.now or utcnow()) <= deadline:
            return None
        return Conflict(
            f"the approval deadline of {a.row.id} passed at {iso(deadline)}",
            field="approval_deadline",
        )


class HoldsTheAuthority(ApprovalRule):
    """A power belongs to an authority: the approver must hold the one they act under."""

    reason = "the approver must hold the authority they act under"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if approver.holds(authority):
            return None
        return Forbidden(f"{approver.name} does not hold the {authority.value} role")


class AuthorityIsRequired(ApprovalRule):
    """Only the authorities the review asked for may approve."""

    reason = "only the authorities the review asked for may approve"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if authority in finding.required_approvals:
            return None
        needed = ", ".join(x.value for x in finding.required_approvals)
        return Conflict(f"{a.row.id} needs approval by {needed}, not {authority.value}")


class OneApprovalPerPrincipal(ApprovalRule):
    """One principal covers one authority: two approvals need two people."""

    reason = "one principal covers one authority: two approvals need two people"

    def refuse(
        self, a: Attempt, approver: Identity, authority: Authority, finding: PlanningResult
    ) -> TriadError | None:
        if not any(
            e.approver == approver.name and e.plan_hash == a.row.plan_hash for e in a.existing
        ):
            return None
        return Conflict(f"{approver.name} already approved this plan of {a.row.id}")


APPROVAL_RULES: tuple[type[ApprovalRule], ...] = (
    AwaitingApproval,
    NotTheRequester,
    NotTheAuthor,
    ReviewedPlanIsCurrent,
    BeforeTheDeadline,
    HoldsTheAuthority,
    AuthorityIsRequired,
    OneApprovalPerPrincipal,
)
"""Checked in this order on every approval, in the transaction that records it."""

_REJECTED = frozenset({S.REJECTED})


class AwaitingDecision(OperationRule):
    """A person rejects only what waits for approval; anything else is already decided."""

    to_states = _REJECTED  # from any state, so the refusal names the state it found
    reason = "a person rejects only what waits for approval"

    def check(self, attempt: Attempt) -> TriadError | None:
        row = attempt.row
        if attempt.by is None or row.status == S.AWAITING_APPROVAL.value:
            return None
        return Conflict(f"operation {row.id} is {row.status}, not awaiting_approval")


class LegislatorOrCrownRejects(OperationRule):
    """Refusing a plan is the legislature's power, or the crown's."""

    to_states = _REJECTED
    reason = "refusing a plan is the legislature's power, or the crown's"

    def check(self, attempt: Attempt) -> TriadError | None:
        by = attempt.by
        if by is None or by.holds(Authority.LEGISLATIVE) or by.holds(Authority.CROWN):
            return None
        return Forbidden(f"{by.name} holds neither the legislative nor the crown role")


lifecycle.OPERATIONS.extend([*APPROVAL_RULES, AwaitingDecision, LegislatorOrCrownRejects])


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

    Every rule of APPROVAL_RULES is checked here, on the row locked for this transaction,
    and again by the lifecycle when the last approval approves the operation.
    """
    return await record_approval(
        session, operation_id=operation_id, approver=approver, authority=authority,
        plan_hash=plan_hash,
    )  # fmt: skip


async def record_approval(
    session: AsyncSession,
    *,
    operation_id: str,
    approver: Identity,
    authority: Authority,
    plan_hash: str,
    standard: bool = False,
) -> OperationRow:
    """Record one approval under every rule of APPROVAL_RULES; approve once all are in.

    With `standard`, the approver gave it once, for every run of this exact plan, by
    granting it as a standard change (``ops.standards``): the same rules hold, the ledger
    says so.
    """
    row = await store.get_operation(session, operation_id, for_update=True)
    finding = PlanningResult.model_validate(row.planning_result or {"approved": False})
    existing = await store.get_approvals(session, operation_id)
    now = utcnow()
    attempt = Attempt(
        row,
        approver.name,
        approver,
        now=now,
        plan_hash=plan_hash,
        authority=authority,
        finding=finding,
        existing=tuple(existing),
    )
    lifecycle.OPERATIONS.screen(S(row.status), S.APPROVED, attempt)
    assert row.plan_hash is not None
    new = ApprovalRow(
        operation_id=operation_id,
        approver=approver.name,
        authority=authority.value,
        plan_hash=row.plan_hash,
        at=now,
    )
    session.add(new)
    given = Approval(authority=authority.value, plan_hash=row.plan_hash)
    if standard:
        given = Approval(authority=authority.value, plan_hash=row.plan_hash, standard=True)
    ledger.record(session, given, actor=approver.name, operation_id=operation_id)
    missing = rules.missing_approvals(
        finding.required_approvals,
        [approval(a) for a in [*existing, new]],
        plan_hash=row.plan_hash,
        authors=rules.plan_authors(row.requested_by, row.plan_author),
    )
    if not missing:
        reason = "pre-approved: a standard change" if standard else "all approvals given"
        approve_and_schedule(session, attempt, reason=reason)
    return row


async def reject_operation(
    session: AsyncSession, *, operation_id: str, by: Identity, reason: str
) -> OperationRow:
    """Refuse a pending operation, with the reason on the record."""
    row = await store.get_operation(session, operation_id, for_update=True)
    attempt = Attempt(row, by.name, by)
    lifecycle.OPERATIONS.screen(S(row.status), S.REJECTED, attempt)
    lifecycle.transition(session, attempt, S.REJECTED, reason=reason)
    return row


async def expire_approvals(session: AsyncSession, *, now: datetime) -> int:
    """Reject every operation whose approval deadline passed unanswered; never approve."""
    rows = await store.expired_approvals(session, now=now)
    for row in rows:
        deadline = iso(row.approval_deadline)
        lifecycle.transition(
            session, Attempt(row, RULES), S.REJECTED, reason=f"approval deadline {deadline} passed"
        )
    return len(rows)
