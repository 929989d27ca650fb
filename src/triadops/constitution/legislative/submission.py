"""The legislature's submission: a reviewed request stored, its plan adopted and decided.

No I/O but the database: ``review`` did the dry runs outside the write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, lifecycle
from triadops.constitution.legislative.review import Reviewed, review_request
from triadops.constitution.lifecycle import Attempt
from triadops.constitution.powers import Powers
from triadops.constitution.sops import SopCatalogue
from triadops.domain.agents import AgentReport
from triadops.domain.chain import plan_hash
from triadops.domain.enums import OperationStatus, Risk, StepStatus
from triadops.domain.errors import Conflict
from triadops.domain.events import PlanAdopted, Submitted
from triadops.domain.identity import Identity
from triadops.domain.operations import (
    Operation,
    OperationRequest,
    Plan,
    PlanningResult,
    utcnow,
)
from triadops.storage.records import operation_view
from triadops.storage.tables import OperationRow, StepRow

RULES = "legislative:rules"
S = OperationStatus


@dataclass(frozen=True, slots=True)
class Stored:
    """A submission as stored in an uncommitted transaction: its row and its step rows."""

    row: OperationRow
    steps: list[StepRow]

    def operation(self) -> Operation:
        """The operation as stored, without reading it back (a new one has no approvals)."""
        return operation_view(self.row, self.steps, [])


def store_reviewed(
    session: AsyncSession, powers: Powers, reviewed: Reviewed, *, via: str | None = None
) -> Stored:
    """Store a reviewed request and move it where its finding says; no I/O but the database.

    `via` names the client it came through (an AI assistant over MCP) on the operation and
    its submission entry, beside the requester (no gate reads it); left out, as it was.

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
        via=via,
        plan_author=request.requested_by,
        request=reviewed.asked.model_dump(mode="json"),
        scheduled_time=request.scheduled_time,
        acknowledgement_overdue=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    submitted = Submitted(
        to_status=S.SUBMITTED.value,
        type=request.operation_type.value,
        authority=request.constitutional_authority.value,
        emergency=request.is_emergency,
        description=request.description,
    )
    if via is not None:  # set only when given: the hash covers the keys its writer set
        submitted = submitted.model_copy(update={"via": via})
    ledger.record(
        session,
        submitted,
        actor=request.requested_by,
        operation_id=row.id,
        at=now,
    )
    if request.is_emergency:
        deadline = now + timedelta(seconds=powers.settings.acknowledgement_timeout_s)
        row.acknowledgement_deadline = deadline
    lifecycle.transition(session, Attempt(row, RULES), S.REVIEWING)
    steps = adopt_plan(
        session,
        row,
        reviewed.plan,
        reviewed.finding,
        timeout_s=powers.settings.approval_timeout_s,
        sops=powers.sops,
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
    sops: SopCatalogue,
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
        conclude(session, row, finding, actor=actor, timeout_s=timeout_s, sops=sops)
    return steps


AWAITING_PLANNER = "the rules accept the plan; awaiting the planner agent"


def conclude(
    session: AsyncSession,
    row: OperationRow,
    finding: PlanningResult,
    *,
    actor: str,
    timeout_s: float,
    sops: SopCatalogue,
    approved_by: str = "approved by the rules",
) -> None:
    """Move a reviewed operation where its finding says: rejected, awaiting or scheduled.

    Out of review towards approval, the plan must fit its type's SOP (``sop.SOP_RULES``).
    """
    attempt = Attempt(row, actor, finding=finding, sops=sops)
    if not finding.approved:
        lifecycle.transition(session, attempt, S.REJECTED, reason=finding.rejection_reason)
    elif finding.required_approvals:
        needed = ", ".join(a.value for a in finding.required_approvals)
        row.approval_deadline = utcnow() + timedelta(seconds=timeout_s)
        lifecycle.transition(
            session,
            attempt,
            S.AWAITING_APPROVAL,
            reason=f"{(finding.risk_level or Risk.LOW).value} risk: needs approval by {needed}",
            details={"deadline": iso(row.approval_deadline)},
        )
    else:
        approve_and_schedule(session, attempt, reason=approved_by)


def approve_and_schedule(session: AsyncSession, attempt: Attempt, *, reason: str) -> None:
    """Approve a reviewed operation and queue it (at its scheduled time, if it has one).

    The approved plan hash is kept on the operation and in the ledger: the executive runs
    only a plan that still hashes to it. `attempt` is the last approval, or the rules.
    """
    row = attempt.row
    row.approved_plan_hash = row.plan_hash
    lifecycle.transition(
        session, attempt, S.APPROVED, reason=reason, details={"plan_hash": row.plan_hash}
    )
    lifecycle.transition(session, attempt, S.SCHEDULED, details={"at": iso(row.scheduled_time)})


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
