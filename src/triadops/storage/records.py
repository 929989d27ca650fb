"""Turn stored rows into the domain's views of operations: in full, and as a listing's line."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import Authority, OperationStatus, OperationType, Risk, StepStatus
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import (
    Approval,
    ChangeReview,
    ImplementationResult,
    Operation,
    OperationRequest,
    Plan,
    PlanningResult,
    StepRecord,
    ValidationResult,
)
from triadops.domain.progress import StepProgress
from triadops.storage.operations import get_approvals, get_operation, get_steps
from triadops.storage.tables import ApprovalRow, OperationRow, StepRow


def step_record(row: StepRow) -> StepRecord:
    """Return the domain view of a step row."""
    return StepRecord(
        index=row.index,
        action=row.action,
        params=row.params,
        status=StepStatus(row.status),
        attempts=row.attempts,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_s=row.duration_s,
        output=row.output or {},
        error=row.error,
        rollback_output=row.rollback_output or {},
        rollback_error=row.rollback_error,
        progress=StepProgress.model_validate(row.progress) if row.progress else None,
    )


def approval(row: ApprovalRow) -> Approval:
    """Return the domain view of an approval row."""
    return Approval(
        approver=row.approver,
        authority=Authority(row.authority),
        plan_hash=row.plan_hash,
        at=row.at,
    )


def review_of(row: OperationRow) -> ChangeReview | None:
    """The crown's post-change review recorded on an operation row, if any."""
    if row.reviewed_by is None or row.reviewed_at is None or row.review_lessons is None:
        return None
    return ChangeReview(
        reviewed_by=row.reviewed_by,
        at=row.reviewed_at,
        lessons=row.review_lessons,
        note=row.review_note,
    )


def operation_view(
    row: OperationRow, steps: list[StepRow], approvals: list[ApprovalRow]
) -> Operation:
    """Assemble an Operation from its rows.

    Its request's ``scheduled_time`` is when the operation is due: the calendar's placement
    or the worker's last move, which the row keeps (the stored request keeps what was asked).
    """
    request = OperationRequest.model_validate(row.request)
    if request.scheduled_time != row.scheduled_time:
        request = request.model_copy(update={"scheduled_time": row.scheduled_time})
    return Operation(
        operation_id=row.id,
        status=OperationStatus(row.status),
        request=request,
        via=row.via,
        plan=Plan.model_validate(row.plan) if row.plan else None,
        plan_hash=row.plan_hash,
        planning_result=PlanningResult.model_validate(row.planning_result)
        if row.planning_result
        else None,
        implementation_result=ImplementationResult.model_validate(row.implementation_result)
        if row.implementation_result
        else None,
        validation_result=ValidationResult.model_validate(row.validation_result)
        if row.validation_result
        else None,
        steps=[step_record(s) for s in steps],
        approvals=[approval(a) for a in approvals],
        approval_deadline=row.approval_deadline,
        acknowledged_by=row.acknowledged_by,
        acknowledgement_deadline=row.acknowledgement_deadline,
        status_reason=row.status_reason,
        review=review_of(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def operation_summary(row: OperationRow) -> OperationSummary:
    """Return the listing line of a stored operation."""
    risk = (row.planning_result or {}).get("risk_level")
    return OperationSummary(
        operation_id=row.id,
        status=OperationStatus(row.status),
        status_reason=row.status_reason,
        operation_type=OperationType(row.operation_type),
        description=str(row.request.get("description", "")),
        requested_by=row.requested_by,
        risk_level=Risk(risk) if isinstance(risk, str) else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_operation(session: AsyncSession, operation_id: str) -> Operation:
    """Read one operation with its steps and approvals, or raise NotFound."""
    row = await get_operation(session, operation_id)
    return operation_view(
        row, await get_steps(session, operation_id), await get_approvals(session, operation_id)
    )
