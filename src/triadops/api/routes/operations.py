"""Operations: submit (or dry-run), list and read, with the ledger timeline; their evidence."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.api.deps import Operator, PowersDep, ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import (
    DryRun,
    OperationIdPath,
    OperationPage,
    OperationQuery,
    OperationSubmission,
    OperationView,
    problems,
)
from triadops.api.views import operation_view
from triadops.constitution import ledger
from triadops.constitution.commits import Tick
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.evidence import NO_KEY, prepare_evidence
from triadops.constitution.legislative.service import (
    Stored,
    preview_operation,
    review_request,
    store_reviewed,
)
from triadops.constitution.powers import Powers
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.evidence import SUMMARY_HEADER, EvidenceBundle
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.runtime import Runtime
from triadops.storage.listing import list_operations, listing_cursor
from triadops.storage.records import operation_summary

router = APIRouter(prefix="/operations", tags=["operations"], responses=problems(401))

JSON = "application/json"
_THIS_ONE = {"operation_id": "$response.body#/operation_id"}
NEXT_STEPS: dict[str, dict[str, object]] = {
    "read": {"operationId": "read_operation", "parameters": _THIS_ONE},
    "approve": {
        "operationId": "approve_operation",
        "parameters": _THIS_ONE,
        "requestBody": {"plan_hash": "$response.body#/plan_hash"},
        "description": "Approve the plan just reviewed, named by its hash.",
    },
    "reject": {"operationId": "reject_operation", "parameters": _THIS_ONE},
    "cancel": {"operationId": "cancel_operation", "parameters": _THIS_ONE},
    "amend": {"operationId": "amend_operation", "parameters": _THIS_ONE},
    "acknowledge": {"operationId": "acknowledge_operation", "parameters": _THIS_ONE},
    "resolve": {"operationId": "resolve_operation", "parameters": _THIS_ONE},
    "review": {"operationId": "review_operation", "parameters": _THIS_ONE},
}
"""Where a client goes from a submitted operation: the per-operation endpoints."""


@router.post(
    "",
    operation_id="submit_operation",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        201: {
            "model": OperationView,
            "description": "Stored: rejected, awaiting approval or scheduled",
            "links": NEXT_STEPS,
        },
        200: {"model": DryRun, "description": "Dry run: the plan and finding, nothing stored"},
        **problems(403, 409, 413, 422),
    },
)
async def submit(
    body: OperationSubmission,
    identity: Operator,
    runtime: RuntimeDep,
    powers: PowersDep,
    dry_run: Annotated[bool, Query(description="Plan and decide, store nothing.")] = False,
) -> Response:
    """Submit an operation for review; it comes back rejected, awaiting approval or scheduled.

    Submissions arriving together share one transaction (group commit).
    """
    request = body.for_requester(identity)
    if dry_run:
        async with runtime.session(read_only=True) as session:
            plan, finding = await preview_operation(session, powers, request=request)
        return _json(DryRun(plan=plan, planning_result=finding), status.HTTP_200_OK)
    view = await store_submission(runtime, powers, request, identity, via=body.via)
    return _json(view, status.HTTP_201_CREATED)


async def store_submission(
    runtime: Runtime,
    powers: Powers,
    request: OperationRequest,
    identity: Identity,
    *,
    via: str | None = None,
) -> OperationView:
    """Review `request` as `identity`'s, store it (group commit) and return it as committed.

    `via` is the client's word on what it is, kept beside the requester, never instead.
    """
    # Reviewed outside the write lock: previews may reach slow targets.
    async with runtime.session(read_only=True) as session:
        reviewed = await review_request(session, powers, request=request, requester=identity)

    async def apply(write: AsyncSession, _tick: Tick) -> tuple[Stored, AsyncSession]:
        return store_reviewed(write, powers, reviewed, via=via), write

    try:
        stored, committed = await runtime.submissions.submit(apply)
    except IntegrityError:
        raise Conflict(
            f"operation {request.operation_id!r} already exists", field="operation_id"
        ) from None
    # What was committed, not read back: a worker may already have moved it on.
    operation_id = stored.row.id
    return OperationView.build(stored.operation(), ledger.linked_in(committed, operation_id))


def _json(model: BaseModel, status_code: int) -> Response:
    """Serialise in pydantic's core; FastAPI's generic encoder costs 30 times as much here."""
    return Response(model.model_dump_json(), status_code=status_code, media_type=JSON)


@router.get("", operation_id="list_operations", responses=problems(422))
async def list_(
    identity: Viewer, session: ReadSessionDep, query: Annotated[OperationQuery, Query()]
) -> OperationPage:
    """List operations, newest first, optionally filtered; page by offset or by cursor."""
    filters = query.filters()
    rows = await list_operations(
        session, **filters, after=query.after(), limit=query.limit, offset=query.offset
    )
    items = [operation_summary(r) for r in rows]
    last = items[-1] if len(items) == query.limit else None  # a full page (limit >= 1)
    return OperationPage(
        items=items,
        limit=query.limit,
        offset=query.offset,
        next_cursor=None
        if last is None
        else listing_cursor((last.created_at, last.operation_id), **filters),
    )


@router.get("/{operation_id}", operation_id="read_operation", responses=problems(404, 422))
async def read(
    operation_id: OperationIdPath, identity: Viewer, session: ReadSessionDep
) -> OperationView:
    """Read one operation in full, with every ledger entry about it."""
    return await operation_view(session, operation_id)


@router.get(
    "/{operation_id}/evidence",
    operation_id="export_evidence",
    response_model=EvidenceBundle,
    responses=problems(404, 409, 422),
)
async def evidence(
    operation_id: OperationIdPath, identity: Viewer, session: ReadSessionDep, runtime: RuntimeDep
) -> Response:
    """Export the operation's evidence bundle: its record and its signed ledger segment.

    A viewer's: it holds what the operation and the ledger reads already show. 409 when the
    server has no checkpoint key or no signed checkpoint covers the operation's last entry
    yet. An auditor checks it offline: ``triad evidence verify BUNDLE --public-key FILE``.
    """
    settings = runtime.settings
    try:
        public_key = await asyncio.to_thread(checkpoints.verifying_key, settings)
    except InvalidRequest as exc:  # the server's key file, not the request, is at fault
        raise Conflict(f"the server's checkpoint key cannot be used: {exc.message}") from None
    if public_key is None:
        raise Conflict(f"the server: {NO_KEY}")
    export = await prepare_evidence(
        session,
        operation_id=operation_id,
        log_path=settings.resolved_checkpoint_log,
        public_key=public_key,
    )
    # Every check is made: the bundle streams a batch at a time, in the request's snapshot
    # (the session closes after the response). Written by the models' own serialisers: a
    # float the ledger holds as NaN stays NaN, as its hash covers it.
    return StreamingResponse(
        export.chunks(session),
        media_type=JSON,
        headers={SUMMARY_HEADER: json.dumps(export.summary())},
    )
