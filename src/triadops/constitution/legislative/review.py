"""The legislature's review: a request expanded, dry-run and decided, before it is stored.

Nothing here writes: the previews may reach the targets, so a review runs outside any write
transaction (``submission`` stores what it found). The submission rules are the gates a
request meets first: who may submit it, and what a request may ask of the planner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from triadops import tracing
from triadops.actions.base import RUNS_TO_ITS_END, ActionContext
from triadops.actions.procedures import ProcedureCatalogue
from triadops.actions.registry import AnyAction
from triadops.constitution.legislative import calendar, rules, sop
from triadops.constitution.powers import Powers, action_context
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Forbidden, InvalidRequest, NotFound, TriadError
from triadops.domain.identity import Identity
from triadops.domain.operations import (
    OperationRequest,
    Plan,
    PlannedStep,
    PlanningResult,
    StepPreview,
    utcnow,
)
from triadops.domain.rules import Rule, RuleBook
from triadops.domain.windows import in_any_window
from triadops.storage import operations as store


@dataclass(frozen=True, slots=True)
class Submitting:
    """A request on its way in, as the submission rules see it."""

    request: OperationRequest
    requester: Identity | None
    """Who submits; None for a dry run (``--dry-run`` previews what anyone could ask)."""
    has_planner: bool = False
    """Whether a planner agent is configured to draft steps from a description."""


SubmissionRule = Rule[OperationStatus | None, Submitting]


class OnOwnBehalf(SubmissionRule):
    """A request names its requester, and only they may submit it."""

    reason = "a request names its requester, and only they may submit it"

    def check(self, attempt: Submitting) -> TriadError | None:
        request, by = attempt.request, attempt.requester
        if by is None or request.requested_by == by.name:
            return None
        return Forbidden(
            f"{by.name} cannot submit on behalf of {request.requested_by}",
            field="requested_by",
        )


class HoldsTheAuthorityInvoked(SubmissionRule):
    """A request acts under an authority; its requester must hold it."""

    reason = "a request acts under an authority; its requester must hold it"

    def check(self, attempt: Submitting) -> TriadError | None:
        request, by = attempt.request, attempt.requester
        if by is None or by.holds(request.constitutional_authority):
            return None
        return Forbidden(
            f"{by.name} does not hold the {request.constitutional_authority.value} role "
            "the request invokes",
            field="constitutional_authority",
        )


class EmergencyNeedsTheCrown(SubmissionRule):
    """Emergency treatment skips the queue and the approvals: only the crown invokes it."""

    reason = "emergency treatment skips the queue and the approvals: only the crown invokes it"

    def check(self, attempt: Submitting) -> TriadError | None:
        misfit = rules.emergency_misfit(attempt.request)
        return Forbidden(misfit, field="emergency_priority") if misfit else None


class OnlyAPlannerDrafts(SubmissionRule):
    """A description without steps needs a planner agent to draft them."""

    reason = "a description without steps needs a planner agent to draft them"

    def check(self, attempt: Submitting) -> TriadError | None:
        if attempt.requester is None or not attempt.request.drafts or attempt.has_planner:
            return None
        return InvalidRequest(
            "give a 'procedure' or at least one step in 'steps': only a planner agent drafts "
            "steps from a description, and none is configured (model = rules)",
            field="steps",
        )


class EmergencyNamesItsSteps(SubmissionRule):
    """An incident's fix must not wait for a planner to draft it."""

    reason = "an incident's fix must not wait for a planner to draft it"

    def check(self, attempt: Submitting) -> TriadError | None:
        request = attempt.request
        if attempt.requester is None or not (request.drafts and request.is_emergency):
            return None
        return InvalidRequest(
            "an emergency names its steps or procedure: it does not wait for a planner to "
            "draft them",
            field="steps",
        )


SUBMISSIONS: RuleBook[OperationStatus | None, Submitting] = RuleBook(
    "submission",
    {None: frozenset({OperationStatus.SUBMITTED})},
    [
        OnOwnBehalf,
        HoldsTheAuthorityInvoked,
        EmergencyNeedsTheCrown,
        OnlyAPlannerDrafts,
        EmergencyNamesItsSteps,
    ],
)
"""A request's way in: from nothing to submitted, checked in this order before any dry run."""


def expand(request: OperationRequest, procedures: ProcedureCatalogue) -> OperationRequest:
    """Fill a procedure request's steps, rollback plan, criteria and systems from the catalogue.

    The request must invoke an authority and a type the procedure declares, and its
    ``procedure_params`` must fit the declared parameters; they are rendered into the steps
    (their types kept), which the plan, and so its hash, then binds.
    """
    if not request.procedure:
        return request
    try:
        procedure = procedures.get(request.procedure)
    except NotFound as exc:
        raise InvalidRequest(f"procedure: {exc.message}", field="procedure") from None
    if request.operation_type is not procedure.operation_type:
        raise InvalidRequest(
            f"operation_type: {procedure.name} is a {procedure.operation_type.value} "
            f"procedure, not {request.operation_type.value}",
            field="operation_type",
        )
    if request.constitutional_authority not in procedure.constitutional_authority:
        allowed = " or ".join(a.value for a in procedure.constitutional_authority)
        raise InvalidRequest(
            f"constitutional_authority: {procedure.name} needs {allowed} authority, "
            f"not {request.constitutional_authority.value}",
            field="constitutional_authority",
        )
    values = procedure.arguments(request.procedure_params)
    return request.model_copy(
        update={
            "steps": procedure.rendered(values),
            "rollback_plan": request.rollback_plan or procedure.rollback_plan,
            "validation_criteria": request.validation_criteria or procedure.validation_criteria,
            "affected_systems": request.affected_systems or procedure.affected_systems,
            "window": request.window or procedure.window,
        }
    )


def declared_duration(powers: Powers, request: OperationRequest) -> float | None:
    """Return the expanded request's procedure's ``expected_duration_s``, if it declares one."""
    if not request.procedure:
        return None
    return powers.procedures.get(request.procedure).expected_duration_s


async def draft_plan(powers: Powers, request: OperationRequest) -> Plan:
    """Validate every step and criterion and dry-run each step; raise before storing anything."""
    steps = []
    for index, spec in enumerate(request.steps):
        where = f"steps[{index}]"
        try:
            action = powers.actions.get(spec.action)
        except NotFound as exc:
            raise InvalidRequest(
                f"{where}.action: {exc.message}", field=f"{where}.action"
            ) from None
        params = powers.actions.validate_params(spec.action, spec.params, where=where)
        ctx = action_context(
            powers,
            operation_id=request.operation_id,
            step_index=index,
            idempotency_key=f"{request.operation_id}:{index}:preview",
        )
        steps.append(
            PlannedStep(
                index=index,
                action=action.name,
                params=params.model_dump(mode="json"),
                risk=action.risk,
                reversible=action.reversible,
                idempotent=action.idempotent,
                timeout_s=action.timeout_s,
                preview=await _preview(action, ctx, params, where=where),
                definition=action.definition(),
            )
        )
    for i, name in enumerate(request.validation_criteria):
        try:
            powers.checks.get(name)
        except NotFound as exc:
            raise InvalidRequest(
                f"validation_criteria[{i}]: {exc.message}", field=f"validation_criteria[{i}]"
            ) from None
    return Plan(
        steps=steps,
        affected_systems=request.affected_systems,
        rollback_plan=request.rollback_plan,
        validation_criteria=request.validation_criteria,
    )


async def _preview(
    action: AnyAction, ctx: ActionContext, params: Any, *, where: str
) -> StepPreview:
    """Dry-run one step within the preview timeout; a refusal names the step and parameter."""
    budget = ctx.settings.preview_timeout_s
    try:
        preview = await asyncio.wait_for(action.preview(ctx, params), timeout=budget)
        if action.interruptible:
            return preview
        return preview.model_copy(update={"summary": f"{preview.summary}; {RUNS_TO_ITS_END}"})
    except TimeoutError:
        raise InvalidRequest(
            f"{where}: {action.name}'s dry run took longer than {budget:g} s "
            "(is its target reachable?)",
            field=where,
        ) from None
    except TriadError as exc:
        field = f"{where}.params.{exc.field}" if exc.field else where
        raise type(exc)(f"{where}: {exc.message}", field=field) from None
    except Exception as exc:  # a target that refuses or breaks: this request fails alone
        reason = " ".join(str(exc).split("\n", 1)[0].split())[:200] or type(exc).__name__
        raise InvalidRequest(
            f"{where}: {action.name}'s dry run failed: {reason}", field=where
        ) from None


async def decide(
    session: AsyncSession,
    powers: Powers,
    *,
    request: OperationRequest,
    plan: Plan,
    notes: Sequence[str] = (),
) -> PlanningResult:
    """Apply the rules: the finding a planner agent may then only make stricter.

    No agent is consulted here: this runs where a transaction may be open. The planner is
    consulted by the worker, outside any transaction (``conclude_review``).
    """
    kind, sops = request.operation_type, powers.sops
    misfit = sop.misfits(sops, kind, request.constitutional_authority, plan)
    if misfit:
        return PlanningResult(
            approved=False, rejection_reason=misfit, constitutional_compliance=False
        )
    settings = powers.settings
    failures = 0
    if request.procedure:
        since = utcnow() - timedelta(days=1)
        failures = await store.recent_failures(session, procedure=request.procedure, since=since)
    risk, reasons = rules.assess_risk(
        plan.steps,
        request,
        blast_radius_threshold=settings.blast_radius_threshold,
        recent_failures=failures,
        recent_failure_threshold=settings.recent_failure_threshold,
    )
    if request.procedure:  # expanded: the procedure is in the catalogue
        declared = powers.procedures.get(request.procedure).risk
        if declared.rank > risk.rank:
            risk, reasons = declared, [*reasons, f"{request.procedure} declares {declared.value}"]
    when = request.scheduled_time or utcnow()
    in_window = request.is_emergency or in_any_window(settings.maintenance_windows, when)
    finding = PlanningResult(
        approved=True,
        risk_level=risk,
        risk_reasons=reasons + sop.approval_reasons(sops, kind) + list(notes),
        required_approvals=sop.with_approvals(
            sops,
            kind,
            rules.required_approvals(
                risk, has_rollback_plan=bool(request.rollback_plan), in_window=in_window
            ),
        ),
        scheduling_recommendation="; ".join(notes)
        or (when.isoformat() if request.scheduled_time else "immediate"),
    )
    return finding


async def preview_operation(
    session: AsyncSession, powers: Powers, *, request: OperationRequest
) -> tuple[Plan, PlanningResult]:
    """Show the plan, its previews and the decision, storing nothing (``--dry-run``)."""
    SUBMISSIONS.enforce(None, OperationStatus.SUBMITTED, Submitting(request, None))
    request = expand(request, powers.procedures)
    request, notes = await calendar.place(
        session, powers.settings, request, declared_s=declared_duration(powers, request)
    )
    plan = await draft_plan(powers, request)
    return plan, await decide(session, powers, request=request, plan=plan, notes=notes)


@dataclass(frozen=True, slots=True)
class Reviewed:
    """A request the legislature reviewed and decided on, not yet stored."""

    asked: OperationRequest
    """The request as it was given (stored as is)."""
    request: OperationRequest
    """The request with its procedure expanded into steps."""
    plan: Plan
    finding: PlanningResult


async def review_request(
    session: AsyncSession, powers: Powers, *, request: OperationRequest, requester: Identity
) -> Reviewed:
    """Check the requester, dry-run every step and decide; write nothing.

    Call it outside any write transaction: the previews may reach the targets (and a
    planner agent may be consulted), which must never happen under the write lock.
    The requester must be who the request names and must hold the authority it invokes.
    """
    attempt = Submitting(request, requester, has_planner=powers.plan_advisor is not None)
    SUBMISSIONS.enforce(None, OperationStatus.SUBMITTED, attempt)
    with tracing.span("legislative: review", operation_id=request.operation_id):
        expanded = expand(request, powers.procedures)
        expanded, notes = await calendar.place(
            session, powers.settings, expanded, declared_s=declared_duration(powers, expanded)
        )
        plan = await draft_plan(powers, expanded)
        finding = await decide(session, powers, request=expanded, plan=plan, notes=notes)
        if expanded.window != request.window:  # the procedure's window binds the row too
            request = request.model_copy(update={"window": expanded.window})
        return Reviewed(asked=request, request=expanded, plan=plan, finding=finding)
