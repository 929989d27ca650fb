"""The legislature: turns requests into plans, scores them, approves and rejects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops import tracing
from triadops.actions.base import RUNS_TO_ITS_END, ActionContext
from triadops.actions.procedures import get_procedure
from triadops.actions.registry import AnyAction
from triadops.constitution import ledger, lifecycle
from triadops.constitution.guards import Rule, enforce
from triadops.constitution.legislative import rules
from triadops.constitution.powers import Powers, action_context
from triadops.domain.agents import AgentReport
from triadops.domain.chain import plan_hash
from triadops.domain.enums import Authority, OperationStatus, Risk, StepStatus
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound, TriadError
from triadops.domain.events import PlanAdopted, Submitted
from triadops.domain.identity import Identity
from triadops.domain.operations import (
    Operation,
    OperationRequest,
    Plan,
    PlannedStep,
    PlanningResult,
    StepPreview,
    StepSpec,
    utcnow,
)
from triadops.domain.windows import in_any_window
from triadops.storage import operations as store
from triadops.storage.records import operation_view
from triadops.storage.tables import OperationRow, StepRow

RULES = "legislative:rules"
S = OperationStatus


def expand(request: OperationRequest) -> OperationRequest:
    """Fill a procedure request's steps, rollback plan, criteria and systems from the catalogue."""
    if not request.procedure:
        return request
    try:
        procedure = get_procedure(request.procedure)
    except NotFound as exc:
        raise InvalidRequest(f"procedure: {exc.message}", field="procedure") from None
    return request.model_copy(
        update={
            "steps": [StepSpec(action=s.action, params=dict(s.params)) for s in procedure.steps],
            "rollback_plan": request.rollback_plan or procedure.rollback_plan,
            "validation_criteria": request.validation_criteria or procedure.validation_criteria,
            "affected_systems": request.affected_systems or procedure.affected_systems,
        }
    )


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
    session: AsyncSession, powers: Powers, *, request: OperationRequest, plan: Plan
) -> PlanningResult:
    """Apply the rules: the finding a planner agent may then only make stricter.

    No agent is consulted here: this runs where a transaction may be open. The planner is
    consulted by the worker, outside any transaction (``conclude_review``).
    """
    misfit = rules.authority_misfit(request)
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
    when = request.scheduled_time or utcnow()
    in_window = request.is_emergency or in_any_window(settings.maintenance_windows, when)
    finding = PlanningResult(
        approved=True,
        risk_level=risk,
        risk_reasons=reasons,
        required_approvals=rules.required_approvals(
            risk, has_rollback_plan=bool(request.rollback_plan), in_window=in_window
        ),
        scheduling_recommendation=when.isoformat() if request.scheduled_time else "immediate",
    )
    return finding


async def preview_operation(
    session: AsyncSession, powers: Powers, *, request: OperationRequest
) -> tuple[Plan, PlanningResult]:
    """Show the plan, its previews and the decision, storing nothing (``--dry-run``)."""
    _refuse_emergency_without_crown(request)
    request = expand(request)
    plan = await draft_plan(powers, request)
    return plan, await decide(session, powers, request=request, plan=plan)


def _refuse_emergency_without_crown(request: OperationRequest) -> None:
    misfit = rules.emergency_misfit(request)
    if misfit:
        raise Forbidden(misfit, field="emergency_priority")


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
    if request.requested_by != requester.name:
        raise Forbidden(
            f"{requester.name} cannot submit on behalf of {request.requested_by}",
            field="requested_by",
        )
    if not requester.holds(request.constitutional_authority):
        raise Forbidden(
            f"{requester.name} does not hold the {request.constitutional_authority.value} role "
            "the request invokes",
            field="constitutional_authority",
        )
    with tracing.span("legislative: review", operation_id=request.operation_id):
        return await _review(session, powers, request)


async def _review(session: AsyncSession, powers: Powers, request: OperationRequest) -> Reviewed:
    _refuse_emergency_without_crown(request)
    if request.drafts and powers.plan_advisor is None:
        raise InvalidRequest(
            "give a 'procedure' or at least one step in 'steps': only a planner agent drafts "
            "steps from a description, and none is configured (model = rules)",
            field="steps",
        )
    if request.drafts and request.is_emergency:
        raise InvalidRequest(
            "an emergency names its steps or procedure: it does not wait for a planner to "
            "draft them",
            field="steps",
        )
    expanded = expand(request)
    plan = await draft_plan(powers, expanded)
    finding = await decide(session, powers, request=expanded, plan=plan)
    return Reviewed(asked=request, request=expanded, plan=plan, finding=finding)


@dataclass(frozen=True, slots=True)
class Stored:
    """A submission as stored in an uncommitted transaction: its row and its step rows."""

    row: OperationRow
    steps: list[StepRow]

    def operation(self) -> Operation:
        """The operation as stored, without reading it back (a new one has no approvals)."""
        return operation_view(self.row, self.steps, [])


def store_reviewed(session: AsyncSession, powers: Powers, reviewed: Reviewed) -> Stored:
    """Store a reviewed request and move it where its finding says; no I/O but the database.

    A duplicate operation id is refused by the primary key when the caller flushes, or at
    once when the session already holds it (the same id twice in one group commit).
    """
    request = reviewed.request
    if _held(session, request.operation_id):
        raise Conflict(f"operation {request.operation_id!r} already exists", field="operation_id")
    now = utcnow()
    row = OperationRow(
        id=request.operation_id,
        status=S.SUBMITTED.value,
        operation_type=request.operation_type.value,
        procedure=request.procedure,
        requested_by=request.requested_by,
        plan_author=request.requested_by,
        request=reviewed.asked.model_dump(mode="json"),
        scheduled_time=request.scheduled_time,
        acknowledgement_overdue=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    ledger.record(
        session,
        Submitted(
            to_status=S.SUBMITTED.value,
            type=request.operation_type.value,
            authority=request.constitutional_authority.value,
            emergency=request.is_emergency,
            description=request.description,
        ),
        actor=request.requested_by,
        operation_id=row.id,
        at=now,
    )
    if request.is_emergency:
        deadline = now + timedelta(seconds=powers.settings.acknowledgement_timeout_s)
        row.acknowledgement_deadline = deadline
    lifecycle.transition(session, row, S.REVIEWING, actor=RULES)
    steps = adopt_plan(
        session,
        row,
        reviewed.plan,
        reviewed.finding,
        timeout_s=powers.settings.approval_timeout_s,
        consult=consults_planner(powers, request),
    )
    return Stored(row, steps)


def consults_planner(powers: Powers, request: OperationRequest) -> bool:
    """Whether a reviewed request waits for the planner agent before it is decided.

    Not an emergency: the crown invoked it, its acknowledgement is the person who looks,
    and an incident's fix must not wait on a model (or on a person when the model is down).
    """
    return powers.plan_advisor is not None and not request.is_emergency


def _held(session: AsyncSession, operation_id: str) -> bool:
    """Whether this session already holds an operation with this id, stored or to be."""
    if session.identity_key(OperationRow, operation_id) in session.identity_map:
        return True
    return any(isinstance(o, OperationRow) and o.id == operation_id for o in session.new)


async def commit_new_operation(session: AsyncSession, operation_id: str) -> None:
    """Commit a stored submission; a duplicate id is a Conflict, not a database error."""
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"operation {operation_id!r} already exists", field="operation_id") from None
    await lifecycle.commit(session)


async def submit_operation(
    session: AsyncSession, powers: Powers, *, request: OperationRequest, requester: Identity
) -> OperationRow:
    """Review a request and store it in `session`: rejected, awaiting approval or scheduled.

    For one request in its own transaction (CLI, tests). Requests arriving together go
    through ``review_request`` outside the write lock and ``store_reviewed`` in a group.
    """
    reviewed = await review_request(session, powers, request=request, requester=requester)
    exists = await session.get(OperationRow, request.operation_id) is not None
    if exists:
        raise Conflict(f"operation {request.operation_id!r} already exists", field="operation_id")
    return store_reviewed(session, powers, reviewed).row


def adopt_plan(
    session: AsyncSession,
    row: OperationRow,
    plan: Plan,
    finding: PlanningResult,
    *,
    timeout_s: float,
    consult: bool = False,
    drafted_by: AgentReport | None = None,
) -> list[StepRow]:
    """Record a reviewed plan on the operation and move it to where the finding says.

    The ledger's ``plan`` entry names the plan's hash and its author, so verification can
    prove that the stored plan and step rows still hash to what was reviewed. With
    `consult`, a plan the rules accept stays in review, claimable, until a worker has
    consulted the planner agent outside any transaction (``conclude_review``).
    """
    actor = RULES
    digest = plan_hash(plan.binding())
    row.plan = plan.model_dump(mode="json")
    row.plan_hash = digest
    row.approved_plan_hash = None
    row.planning_result = finding.model_dump(mode="json")
    steps = [
        StepRow(
            operation_id=row.id,
            index=step.index,
            action=step.action,
            params=step.params,
            status=StepStatus.PENDING.value,
            attempts=0,
            idempotency_key=f"{row.id}:{step.index}:{digest[:16]}",
            output={},
            rollback_output={},
        )
        for step in plan.steps
    ]
    session.add_all(steps)
    adopted = PlanAdopted(
        plan_hash=digest,
        author=row.plan_author,
        risk=finding.risk_level.value if finding.risk_level else None,
        steps=len(plan.steps),
        required_approvals=[a.value for a in finding.required_approvals],
    )
    if drafted_by:
        adopted = adopted.model_copy(update={"drafted_by": drafted_by.model})
    ledger.record(session, adopted, actor=actor, operation_id=row.id)
    if consult and finding.approved:
        row.status_reason = AWAITING_PLANNER
    else:
        conclude(session, row, finding, actor=actor, timeout_s=timeout_s)
    return steps


AWAITING_PLANNER = "the rules accept the plan; awaiting the planner agent"


def conclude(
    session: AsyncSession,
    row: OperationRow,
    finding: PlanningResult,
    *,
    actor: str,
    timeout_s: float,
    approved_by: str = "approved by the rules",
) -> None:
    """Move a reviewed operation where its finding says: rejected, awaiting or scheduled."""
    if not finding.approved:
        lifecycle.transition(session, row, S.REJECTED, actor=actor, reason=finding.rejection_reason)
    elif finding.required_approvals:
        needed = ", ".join(a.value for a in finding.required_approvals)
        row.approval_deadline = utcnow() + timedelta(seconds=timeout_s)
        lifecycle.transition(
            session,
            row,
            S.AWAITING_APPROVAL,
            actor=actor,
            reason=f"{(finding.risk_level or Risk.LOW).value} risk: needs approval by {needed}",
            details={"deadline": iso(row.approval_deadline)},
        )
    else:
        approve_and_schedule(session, row, actor=actor, reason=approved_by)


def approve_and_schedule(
    session: AsyncSession, row: OperationRow, *, actor: str, reason: str
) -> None:
    """Approve a reviewed operation and queue it (at its scheduled time, if it has one).

    The approved plan hash is kept on the operation and in the ledger: the executive runs
    only a plan that still hashes to it.
    """
    row.approved_plan_hash = row.plan_hash
    lifecycle.transition(
        session, row, S.APPROVED, actor=actor, reason=reason, details={"plan_hash": row.plan_hash}
    )
    lifecycle.transition(
        session, row, S.SCHEDULED, actor=actor, details={"at": iso(row.scheduled_time)}
    )


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


Amending = tuple[OperationRow, Identity]


def not_yet_running(a: Amending) -> Conflict | None:
    """A plan changes only before a worker starts it: what runs is what was approved."""
    row, _ = a
    amendable = (S.AWAITING_APPROVAL.value, S.SCHEDULED.value)
    if row.status in amendable and not store.is_leased(row, utcnow()):
        return None
    return Conflict(f"operation {row.id} is {row.status}; only plans not yet running change")


def requester_or_legislator(a: Amending) -> Forbidden | None:
    """Writing a plan is the legislature's power, or the requester's for their own request."""
    row, by = a
    if by.name == row.requested_by or by.holds(Authority.LEGISLATIVE):
        return None
    return Forbidden(f"{by.name} neither requested {row.id} nor holds the legislative role")


AMENDMENT_RULES: tuple[Rule[Amending], ...] = (not_yet_running, requester_or_legislator)


def _check_amendable(row: OperationRow, by: Identity) -> None:
    enforce(AMENDMENT_RULES, (row, by))


async def amend_operation(
    session: AsyncSession,
    powers: Powers,
    *,
    operation_id: str,
    steps: list[StepSpec],
    by: Identity,
) -> OperationRow:
    """Replace the steps of a not-yet-running plan; every earlier approval is void.

    The new plan's dry runs (which may reach targets) happen before `session` takes the
    write lock, from a read of the operation; under the lock the operation must still be
    amendable and its request unchanged, or nothing changes.
    """
    async with powers.reading() as reading:
        seen = await store.get_operation(reading, operation_id)
        _check_amendable(seen, by)
        fields = {**seen.request, "procedure": None, "steps": [s.model_dump() for s in steps]}
    request = OperationRequest.model_validate(fields)
    plan = await draft_plan(powers, request)
    row = await store.get_operation(session, operation_id, for_update=True)
    _check_amendable(row, by)
    if row.request != seen.request:
        raise Conflict(f"operation {operation_id} changed while it was amended; try again")
    if plan_hash(plan.binding()) == row.plan_hash:
        raise Conflict(f"the amended plan of {operation_id} is identical to the current one")
    finding = await decide(session, powers, request=request, plan=plan)
    await store.delete_steps(session, operation_id)
    await session.flush()
    row.request = request.model_dump(mode="json")
    row.procedure = None
    row.plan_author = by.name
    lifecycle.transition(
        session,
        row,
        S.REVIEWING,
        actor=by.name,
        reason="plan amended; earlier approvals are void",
        details={"old_plan_hash": row.plan_hash},
    )
    adopt_plan(
        session,
        row,
        plan,
        finding,
        timeout_s=powers.settings.approval_timeout_s,
        consult=consults_planner(powers, request),
    )
    return row
