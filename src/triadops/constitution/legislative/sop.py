"""The SOP's rules: a plan leaves review only if it fits its type's standard procedure.

Each rule guards the edges out of review towards approval (reviewing → approved or
awaiting_approval) and says what the SOP asks that the request lacks, naming the SOP and
the missing part. The review screens them first (``misfits``), so a request that does not
fit is rejected with that reason; the lifecycle enforces them again where the state
changes, so no caller can conclude a review without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from triadops.constitution import lifecycle
from triadops.constitution.legislative import rules
from triadops.constitution.lifecycle import Attempt, OperationRule
from triadops.constitution.sops import SopCatalogue
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.errors import Conflict, TriadError
from triadops.domain.operations import Plan
from triadops.domain.sops import Sop

S = OperationStatus


@dataclass(frozen=True, slots=True)
class Proposal:
    """A request and its plan, as its SOP's rules see them."""

    kind: OperationType
    authority: Authority
    plan: Plan
    sop: Sop | None
    """The SOP that governs `kind`; None when none does."""
    required_approvals: Sequence[Authority] | None = None
    """The review's finding; None while it is still being decided."""


class SopRule(OperationRule):
    """A gate out of review: the plan must fit what its type's SOP asks."""

    from_states = frozenset({S.REVIEWING})
    to_states = frozenset({S.APPROVED, S.AWAITING_APPROVAL})

    def check(self, attempt: Attempt) -> TriadError | None:
        sops = attempt.sops
        if sops is None:
            return Conflict(
                f"the review of {attempt.row.id} concluded without the SOPs in force; "
                "it cannot leave review"
            )
        proposal = proposal_of(attempt, sops)
        return None if proposal is None else self.refuse(proposal)

    def refuse(self, p: Proposal) -> TriadError | None:
        """Return what the SOP asks that `p` lacks, or None."""
        raise NotImplementedError


def proposal_of(attempt: Attempt, sops: SopCatalogue) -> Proposal | None:
    """Read the proposal from the operation row (None: no plan, nothing to hold)."""
    row = attempt.row
    if row.plan is None:
        return None
    kind = OperationType(row.operation_type)
    finding = attempt.finding
    return Proposal(
        kind=kind,
        authority=Authority(str(row.request["constitutional_authority"])),
        plan=Plan.model_validate(row.plan),
        sop=sops.governing(kind),
        required_approvals=None if finding is None else finding.required_approvals,
    )


class RequestedUnderItsAuthority(SopRule):
    """An SOP says which authorities may request its types; others are turned away."""

    reason = "an SOP says which authorities may request its types"

    def refuse(self, p: Proposal) -> TriadError | None:
        misfit = rules.authority_misfit(p.kind, p.authority, p.sop)
        return None if misfit is None else Conflict(misfit, field="constitutional_authority")


class NamesWhatItChanges(SopRule):
    """A change its SOP governs names what it changes, so its blast radius is known."""

    reason = "a change names what it changes, so its blast radius is known"

    def refuse(self, p: Proposal) -> TriadError | None:
        if p.sop is None or not p.sop.needs_affected_systems or p.plan.affected_systems:
            return None
        return Conflict(
            f"{p.sop.label} needs affected_systems: name what the change touches",
            field="affected_systems",
        )


class SaysHowToUndoIt(SopRule):
    """A change its SOP governs says how to undo it before anyone runs it."""

    reason = "a change says how to undo it before anyone runs it"

    def refuse(self, p: Proposal) -> TriadError | None:
        if p.sop is None or not p.sop.needs_rollback_plan or p.plan.rollback_plan:
            return None
        return Conflict(
            f"{p.sop.label} needs a rollback_plan: say how to undo the change",
            field="rollback_plan",
        )


class MeasuredAsItsSopSays(SopRule):
    """The judiciary measures what the SOP asks: its checks are among the criteria."""

    reason = "the judiciary measures what the SOP asks: its checks are among the criteria"

    def refuse(self, p: Proposal) -> TriadError | None:
        if p.sop is None:
            return None
        criteria = p.plan.validation_criteria
        for need in p.sop.criteria:
            if not need.met_by(criteria):
                return Conflict(
                    f"{p.sop.label} needs {need.what} among validation_criteria "
                    f"({' or '.join(need.any_of)})",
                    field="validation_criteria",
                )
        return None


class ApprovedAsItsSopSays(SopRule):
    """The approvals an SOP names are required whatever the risk: rules add, never remove."""

    reason = "the approvals an SOP names are required whatever the risk"

    def refuse(self, p: Proposal) -> TriadError | None:
        if p.sop is None or p.required_approvals is None:
            return None
        missing = [a.value for a in p.sop.approvals if a not in p.required_approvals]
        if not missing:
            return None
        return Conflict(
            f"{p.sop.label} needs approval by {', '.join(missing)}, which the review's "
            "finding does not require",
            field="required_approvals",
        )


SOP_RULES: tuple[type[SopRule], ...] = (
    RequestedUnderItsAuthority,
    NamesWhatItChanges,
    SaysHowToUndoIt,
    MeasuredAsItsSopSays,
    ApprovedAsItsSopSays,
)
"""Checked in this order on every review that would approve a plan or send it to people."""

lifecycle.OPERATIONS.extend(SOP_RULES)
_SCREENS = tuple(rule() for rule in SOP_RULES)


def misfits(sops: SopCatalogue, kind: OperationType, authority: Authority, plan: Plan) -> str:
    """Say everything the type's SOP asks that the request lacks ("" when it fits).

    A plan with no steps yet (a description the planner agent will draft from) is screened
    for who asks only: what it changes, how to undo it and how it is measured are the drafted
    plan's, screened when the draft is reviewed and enforced where it leaves review.
    """
    proposal = Proposal(kind=kind, authority=authority, plan=plan, sop=sops.governing(kind))
    screens = _SCREENS if plan.steps else (RequestedUnderItsAuthority(),)
    said = [r.message for rule in screens if (r := rule.refuse(proposal)) is not None]
    return "; ".join(said)


def approval_reasons(sops: SopCatalogue, kind: OperationType) -> list[str]:
    """Say which approvals the type's SOP asks for whatever the risk (none: nothing)."""
    sop = sops.governing(kind)
    if sop is None or not sop.approvals:
        return []
    return [f"{sop.label}: approval by {', '.join(a.value for a in sop.approvals)} at least"]


def with_approvals(
    sops: SopCatalogue, kind: OperationType, required: list[Authority]
) -> list[Authority]:
    """Add the approvals the type's SOP names to `required` (never fewer), after them."""
    sop = sops.governing(kind)
    return required + [a for a in (sop.approvals if sop else []) if a not in required]
