"""Decisions on an operation: approve, reject, cancel, acknowledge, resolve, amend."""

from __future__ import annotations

from fastapi import APIRouter

from triadops.api.deps import Crown, Judge, Legislator, Operator, PowersDep, SessionDep
from triadops.api.schemas import (
    AmendBody,
    ApproveBody,
    CancelBody,
    CancelView,
    OperationIdPath,
    OperationView,
    RejectBody,
    ResolveBody,
    ReviewBody,
    problems,
)
from triadops.api.views import operation_view
from triadops.constitution import lifecycle
from triadops.constitution.crown.reviews import review_change
from triadops.constitution.crown.service import acknowledge, cancel_answer, cancel_operation
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import amend_operation

router = APIRouter(
    prefix="/operations/{operation_id}",
    tags=["decisions"],
    responses=problems(401, 403, 404, 409, 413, 422),
)


@router.post("/approve", operation_id="approve_operation")
async def approve(
    operation_id: OperationIdPath,
    body: ApproveBody,
    identity: Legislator,
    session: SessionDep,
    powers: PowersDep,
) -> OperationView:
    """Approve the plan you reviewed, named by its `plan_hash` (409 if it changed since).

    Neither the requester nor the plan's last author may approve; legislative by default.
    """
    await approve_operation(
        session,
        powers,
        operation_id=operation_id,
        approver=identity,
        authority=body.authority,
        plan_hash=body.plan_hash,
    )
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)


@router.post("/reject", operation_id="reject_operation")
async def reject(
    operation_id: OperationIdPath, body: RejectBody, identity: Legislator, session: SessionDep
) -> OperationView:
    """Refuse an operation awaiting approval, with the reason on the record."""
    await reject_operation(session, operation_id=operation_id, by=identity, reason=body.reason)
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)


@router.post("/cancel", operation_id="cancel_operation")
async def cancel(
    operation_id: OperationIdPath,
    identity: Operator,
    session: SessionDep,
    powers: PowersDep,
    body: CancelBody | None = None,
) -> CancelView:
    """Cancel (the requester or the crown); `cancel` says whether a running step stops now."""
    reason = body.reason if body else None
    row = await cancel_operation(session, operation_id=operation_id, by=identity, reason=reason)
    answer = await cancel_answer(session, row, actions=powers.actions)
    await lifecycle.commit(session)
    view = await operation_view(session, operation_id)
    return CancelView.model_validate({**dict(view), "cancel": answer})


@router.post("/acknowledge", operation_id="acknowledge_operation")
async def acknowledge_emergency(
    operation_id: OperationIdPath, identity: Crown, session: SessionDep
) -> OperationView:
    """Acknowledge an emergency operation, as a crown identity other than its requester."""
    await acknowledge(session, operation_id=operation_id, by=identity)
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)


@router.post("/review", operation_id="review_operation")
async def review(
    operation_id: OperationIdPath, body: ReviewBody, identity: Crown, session: SessionDep
) -> OperationView:
    """Record the crown's post-change review of a change that ended: lessons and a note.

    A crown identity other than the requester; one review an operation.
    """
    await review_change(session, operation_id=operation_id, by=identity, notes=body)
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)


@router.post("/resolve", operation_id="resolve_operation")
async def resolve(
    operation_id: OperationIdPath, body: ResolveBody, identity: Judge, session: SessionDep
) -> OperationView:
    """Rule whether the interrupted step of an operation in doubt took effect."""
    await resolve_in_doubt(
        session, operation_id=operation_id, step_succeeded=body.step_succeeded, by=identity
    )
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)


@router.put("/steps", operation_id="amend_operation")
async def amend(
    operation_id: OperationIdPath,
    body: AmendBody,
    identity: Operator,
    session: SessionDep,
    powers: PowersDep,
) -> OperationView:
    """Replace the plan's steps before it runs; it is reviewed again and approvals are void."""
    await amend_operation(session, powers, operation_id=operation_id, steps=body.steps, by=identity)
    await lifecycle.commit(session)
    return await operation_view(session, operation_id)
