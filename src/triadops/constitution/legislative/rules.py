"""The legislature's rules: who may request a type, risk scoring and approval thresholds.

Each rule is a small pure function with the reason it exists; the service composes them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from triadops.domain.enums import Authority, OperationType, Risk
from triadops.domain.operations import Approval, OperationRequest, PlannedStep
from triadops.domain.sops import Sop


def plan_authors(requested_by: str, plan_author: str | None) -> frozenset[str]:
    """Return the principals who may not approve a plan: its requester and its last author."""
    return frozenset({requested_by, plan_author or requested_by})


UNGOVERNED_AUTHORITIES: dict[OperationType, frozenset[Authority]] = {
    OperationType.MONITORING: frozenset({Authority.EXECUTIVE, Authority.JUDICIAL, Authority.CROWN}),
    OperationType.VALIDATION: frozenset({Authority.JUDICIAL}),
}
"""Who may request a type no SOP governs (the seed's SOPs cover the four others); a user's
SOP that governs one of these types replaces its line here. Any other type: anyone."""


def authority_misfit(kind: OperationType, authority: Authority, sop: Sop | None) -> str | None:
    """Return why `authority` may not request an operation of type `kind`, or None if it may.

    The type's SOP says who may request it; a type without one, the table above.
    """
    allowed = frozenset(sop.requested_by) if sop else UNGOVERNED_AUTHORITIES.get(kind)
    if allowed is None or authority in allowed:
        return None
    names = " or ".join(sorted(a.value for a in allowed))
    label = sop.label if sop else kind.value
    return f"{label} requires {names} authority for {kind.value} operations, not {authority.value}"


def emergency_misfit(request: OperationRequest) -> str | None:
    """Return why a request may not ask for emergency treatment, or None if it may.

    Emergency treatment skips the maintenance window and runs before any acknowledgement:
    it is a crown power (SOP-002), never a flag any requester may set.
    """
    if request.emergency_priority and request.constitutional_authority is not Authority.CROWN:
        return (
            "emergency_priority is a crown power (SOP-002): the request must invoke "
            f"crown authority, not {request.constitutional_authority.value}"
        )
    return None


def assess_risk(
    steps: Sequence[PlannedStep],
    request: OperationRequest,
    *,
    blast_radius_threshold: int,
    recent_failures: int,
    recent_failure_threshold: int,
) -> tuple[Risk, list[str]]:
    """Score a plan: the riskiest step, raised by blast radius, irreversibility and history.

    A plan still to be drafted (a description only) scores low until its steps exist.
    """
    if steps:
        riskiest = max(steps, key=lambda s: s.risk.rank)
        risk = riskiest.risk
        reasons = [f"riskiest step: {riskiest.action} ({riskiest.risk.value})"]
    else:
        risk, reasons = Risk.LOW, ["no steps yet: the planner agent drafts them"]
    if len(request.affected_systems) > blast_radius_threshold:
        risk = risk.raised()
        reasons.append(
            f"blast radius: {len(request.affected_systems)} affected systems "
            f"(more than {blast_radius_threshold})"
        )
    irreversible = [s.action for s in steps if not s.reversible]
    if irreversible and not request.rollback_plan:
        risk = risk.raised()
        reasons.append(f"irreversible steps without a rollback plan: {', '.join(irreversible)}")
    if recent_failures >= recent_failure_threshold:
        risk = risk.raised()
        reasons.append(f"{recent_failures} recent failures of {request.procedure}")
    return risk, reasons


def required_approvals(risk: Risk, *, has_rollback_plan: bool, in_window: bool) -> list[Authority]:
    """Return the authorities that must approve, beyond the rules themselves.

    Low risk is approved by the rules. Medium is approved by the rules only when a rollback
    plan exists and the work runs in a maintenance window. High needs the legislature;
    critical needs the legislature and the crown.
    """
    if risk is Risk.LOW:
        return []
    if risk is Risk.MEDIUM:
        return [] if has_rollback_plan and in_window else [Authority.LEGISLATIVE]
    if risk is Risk.HIGH:
        return [Authority.LEGISLATIVE]
    return [Authority.LEGISLATIVE, Authority.CROWN]


def missing_approvals(
    required: Sequence[Authority],
    approvals: Sequence[Approval],
    *,
    plan_hash: str,
    authors: Collection[str],
) -> list[Authority]:
    """Return the required authorities not yet covered by valid approvals.

    An approval counts only if it is bound to the current plan's hash and was given by a
    principal who is not one of the plan's authors (its requester, whoever last amended
    it); one principal covers one authority.
    """
    valid = [a for a in approvals if a.plan_hash == plan_hash and a.approver not in authors]
    missing, used = [], set()
    for authority in required:
        match = next(
            (a for a in valid if a.authority is authority and a.approver not in used), None
        )
        if match is None:
            missing.append(authority)
        else:
            used.add(match.approver)
    return missing
