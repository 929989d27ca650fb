"""Operations: submit (or dry-run), list and read, with the ledger timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from triadops.api.deps import Operator, PowersDep, SessionDep, Viewer
from triadops.api.schemas import PROBLEMS, DryRun, OperationPage, OperationSubmission, OperationView
from triadops.api.views import operation_summary, operation_view
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import preview_operation, submit_operation
from triadops.domain.enums import OperationStatus
from triadops.storage.operations import list_operations

router = APIRouter(prefix="/operations", tags=["operations"], responses=PROBLEMS)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": DryRun, "description": "dry run: the plan, nothing stored"}},
)
async def submit(
    body: OperationSubmission,
    identity: Operator,
    session: SessionDep,
    powers: PowersDep,
    response: Response,
    dry_run: Annotated[bool, Query(description="Plan and decide, store nothing.")] = False,
) -> OperationView | DryRun:
    """Submit an operation for review; it comes back rejected, awaiting approval or scheduled."""
    request = body.for_requester(identity)
    if dry_run:
        plan, finding = await preview_operation(session, powers, request=request)
        response.status_code = status.HTTP_200_OK
        return DryRun(plan=plan, planning_result=finding)
    row = await submit_operation(session, powers, request=request, requester=identity)
    await lifecycle.commit(session)
    return await operation_view(session, row.id)


@router.get("")
async def list_(
    identity: Viewer,
    session: SessionDep,
    status: Annotated[list[OperationStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OperationPage:
    """List operations, newest first, optionally only those in the given states."""
    rows = await list_operations(session, statuses=status or (), limit=limit, offset=offset)
    return OperationPage(items=[operation_summary(r) for r in rows], limit=limit, offset=offset)


@router.get("/{operation_id}")
async def read(operation_id: str, identity: Viewer, session: SessionDep) -> OperationView:
    """Read one operation in full, with every ledger entry about it."""
    return await operation_view(session, operation_id)
