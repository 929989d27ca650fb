"""Operations: submit (or dry-run), list and read, with the ledger timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.api.deps import Operator, PowersDep, ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import (
    MAX_OFFSET,
    PROBLEMS,
    DryRun,
    OperationIdPath,
    OperationPage,
    OperationSubmission,
    OperationView,
)
from triadops.api.views import operation_summary, operation_view
from triadops.constitution.commits import Tick
from triadops.constitution.legislative.service import (
    preview_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict
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
    runtime: RuntimeDep,
    powers: PowersDep,
    response: Response,
    dry_run: Annotated[bool, Query(description="Plan and decide, store nothing.")] = False,
) -> OperationView | DryRun:
    """Submit an operation for review; it comes back rejected, awaiting approval or scheduled.

    Submissions arriving together share one transaction (group commit).
    """
    request = body.for_requester(identity)
    if dry_run:
        async with runtime.session(read_only=True) as session:
            plan, finding = await preview_operation(session, powers, request=request)
        response.status_code = status.HTTP_200_OK
        return DryRun(plan=plan, planning_result=finding)
    # Reviewed outside the write lock: previews may reach slow targets.
    async with runtime.session(read_only=True) as session:
        reviewed = await review_request(session, powers, request=request, requester=identity)

    async def apply(write: AsyncSession, _tick: Tick) -> str:
        return store_reviewed(write, powers, reviewed).id

    try:
        operation_id: str = await runtime.submissions.submit(apply)
    except IntegrityError:
        raise Conflict(
            f"operation {request.operation_id!r} already exists", field="operation_id"
        ) from None
    # A fresh snapshot: the request's read session began before the submission committed.
    async with runtime.session(read_only=True) as fresh:
        return await operation_view(fresh, operation_id)


@router.get("")
async def list_(
    identity: Viewer,
    session: ReadSessionDep,
    status: Annotated[list[OperationStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OperationPage:
    """List operations, newest first, optionally only those in the given states."""
    rows = await list_operations(session, statuses=status or (), limit=limit, offset=offset)
    return OperationPage(items=[operation_summary(r) for r in rows], limit=limit, offset=offset)


@router.get("/{operation_id}")
async def read(
    operation_id: OperationIdPath, identity: Viewer, session: ReadSessionDep
) -> OperationView:
    """Read one operation in full, with every ledger entry about it."""
    return await operation_view(session, operation_id)
