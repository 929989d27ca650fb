"""The planner agent's advice, applied: it can only tighten the rules' finding.

Called by the worker's journey in the commit that follows a consultation made outside any
transaction (the submission left the operation in review). A plan the planner drafted from a
description is dry-run here too, outside the transaction, and a person must approve it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import consultations, lifecycle
from triadops.constitution.advisors import PlanAdvice
from triadops.constitution.legislative import rules
from triadops.constitution.legislative.review import decide, draft_plan
from triadops.constitution.legislative.submission import (
    RULES,
    adopt_plan,
    conclude,
)
from triadops.constitution.lifecycle import Attempt
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, Risk
from triadops.domain.enums import OperationStatus as S
from triadops.domain.errors import TriadError
from triadops.domain.operations import OperationRequest, Plan, PlanningResult
from triadops.storage.tables import OperationRow


def stricter(finding: PlanningResult, advice: PlanAdvice) -> PlanningResult:
    """Apply advice that can only reject, raise risk or add approvals; never loosen.

    A planner that failed (timed out, errored, answered nonsense) sends the decision to a
    person: the legislature's approval is required on top of what the rules require.
    """
    result = finding.model_copy(
        update={"advice": [*finding.advice, *advice.notes], "agent": advice.report}
    )
    required = set(result.required_approvals)
    if advice.failed:
        required.add(Authority.LEGISLATIVE)
        why = advice.report.error if advice.report and advice.report.error else "no answer"
        result.advice.append(f"the planner agent gave no valid answer ({why}): a person decides")
    if advice.reject:
        result.approved = False
        result.rejection_reason = f"advisor: {advice.reason or 'rejected'}"
    current = result.risk_level or Risk.LOW
    if advice.raise_risk_to and advice.raise_risk_to.rank > current.rank:
        result.risk_level = advice.raise_risk_to
        result.risk_reasons.append(f"advisor raised risk to {advice.raise_risk_to.value}")
        required.update(
            rules.required_approvals(advice.raise_risk_to, has_rollback_plan=False, in_window=False)
        )
    required.update(advice.require)
    result.required_approvals = sorted(required, key=lambda a: a.value)
    return result


async def draft_from_advice(
    powers: Powers, row: OperationRow, advice: PlanAdvice
) -> tuple[OperationRequest, Plan] | str:
    """Dry-run the steps a planner drafted; return the request and plan, or why not.

    Called outside any transaction: the dry runs may reach the targets.
    """
    if not advice.steps:
        why = advice.reason or (
            advice.report.error if advice.report and advice.report.error else "no answer"
        )
        return f"the planner agent drafted no plan ({why})"
    asked = OperationRequest.model_validate(row.request)
    update: dict[str, object] = {"steps": advice.steps}
    try:
        if advice.procedure is not None:  # as review does for a request that names one
            procedure = powers.procedures.get(advice.procedure)
            update |= {
                "rollback_plan": asked.rollback_plan or procedure.rollback_plan,
                "validation_criteria": asked.validation_criteria or procedure.validation_criteria,
                "affected_systems": asked.affected_systems or procedure.affected_systems,
            }
        request = asked.model_copy(update=update)
        return request, await draft_plan(powers, request)
    except TriadError as exc:
        return f"the drafted plan was refused: {exc.message}"


async def conclude_drafted(
    session: AsyncSession,
    powers: Powers,
    row: OperationRow,
    advice: PlanAdvice,
    drafted: tuple[OperationRequest, Plan] | str,
) -> None:
    """Adopt a plan the planner drafted, or reject the request; a person approves any draft.

    The rules assess the drafted plan as they would any other; the planner's advice can only
    tighten that; and the legislature's approval is always required, since no person wrote
    the plan. A request whose drafting failed is rejected: there is nothing to approve.
    """
    if advice.report is not None:
        await consultations.record(session, advice.report, operation_id=row.id)
    timeout_s = powers.settings.approval_timeout_s
    if isinstance(drafted, str) or advice.reject:
        reason = drafted if isinstance(drafted, str) else f"advisor: {advice.reason}"
        finding = PlanningResult.model_validate(row.planning_result)
        row.planning_result = finding.model_copy(
            update={"approved": False, "rejection_reason": reason, "agent": advice.report}
        ).model_dump(mode="json")
        lifecycle.transition(session, Attempt(row, RULES), S.REJECTED, reason=reason)
        return
    request, plan = drafted
    finding = stricter(await decide(session, powers, request=request, plan=plan), advice)
    finding.required_approvals = sorted(
        {*finding.required_approvals, Authority.LEGISLATIVE}, key=lambda a: a.value
    )
    finding.advice.append("the plan was drafted by the planner agent: a person approves it")
    adopt_plan(
        session,
        row,
        plan,
        finding,
        timeout_s=timeout_s,
        sops=powers.sops,
        drafted_by=advice.report,
    )


async def conclude_review(
    session: AsyncSession, powers: Powers, row: OperationRow, advice: PlanAdvice
) -> bool:
    """Apply the planner's advice to the stored finding and decide; True when scheduled.

    Called in the commit that follows the consultation (made outside any transaction).
    The advice can only tighten the rules' finding; a planner that failed leaves the
    decision to a person. The consultation lands in the ledger in the same transaction.
    """
    finding = stricter(PlanningResult.model_validate(row.planning_result), advice)
    row.planning_result = finding.model_dump(mode="json")
    if advice.report is not None:
        await consultations.record(session, advice.report, operation_id=row.id)
    agreed = "approved by the rules; the planner agent found nothing against it"
    conclude(
        session,
        row,
        finding,
        actor=RULES,
        timeout_s=powers.settings.approval_timeout_s,
        sops=powers.sops,
        approved_by=agreed,
    )
    return row.status == S.SCHEDULED.value
