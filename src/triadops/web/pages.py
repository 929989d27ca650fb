"""The console's read pages: the overview, the operations listing and one operation."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from triadops.constitution.ledger import to_entry
from triadops.domain.alerts import AlertState
from triadops.domain.enums import OperationStatus, OperationType, Role
from triadops.domain.errors import InvalidRequest
from triadops.ops.alerts import models as alerts
from triadops.storage import ledger as ledger_store
from triadops.storage.health import latest_report
from triadops.storage.listing import cursor_position, list_operations, listing_cursor
from triadops.storage.operations import crown_state
from triadops.storage.records import load_operation, operation_summary
from triadops.web import sessions
from triadops.web.offers import offers
from triadops.web.render import render, runtime_of

router = APIRouter()

E = TypeVar("E", bound=StrEnum)

PAGE = 25
"""Operations on one page of the listing."""


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    """Show the branches' health, firing alerts, the freeze, and what waits for you."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    async with runtime.session(read_only=True) as session:
        crown = await crown_state(session)
        report = await latest_report(session)
        firing = await alerts.list_alerts(session, states=[AlertState.FIRING], limit=20)
        waiting = await list_operations(
            session, statuses=[OperationStatus.AWAITING_APPROVAL], limit=20
        )
    mine = [
        operation_summary(row)
        for row in waiting
        if row.requested_by != signed.identity.name
        and offers(signed.identity, status=OperationStatus.AWAITING_APPROVAL).approve
    ]
    return render(
        request,
        "overview.html",
        signed=signed,
        crown=crown,
        crowned=Role.CROWN in signed.identity.roles,
        health=_health(report.report if report is not None else None),
        firing=firing,
        waiting=mine,
    )


def _health(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the stored report's headline and its components (the four branches, the host)."""
    if report is None:
        return None
    components = [
        {"name": c.get("name"), "score": c.get("score"), "status": c.get("status")}
        for c in report.get("components", [])
        if isinstance(c, dict)
    ]
    return {"score": report.get("score"), "status": report.get("status"), "components": components}


@router.get("/operations", response_class=HTMLResponse)
async def operations(request: Request) -> Response:
    """List operations newest first, by state and type, a page at a time (cursor)."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    status = _chosen(request, "status", OperationStatus, "an operation state")
    type_ = _chosen(request, "type", OperationType, "an operation type")
    statuses = [status] if status else []
    types = [type_] if type_ else []
    cursor = request.query_params.get("cursor") or None
    after = cursor_position(cursor, statuses=statuses, types=types) if cursor else None
    async with runtime.session(read_only=True) as session:
        rows = await list_operations(
            session, statuses=statuses, types=types, after=after, limit=PAGE
        )
    items = [operation_summary(r) for r in rows]
    last = items[-1] if len(items) == PAGE else None
    following = (
        listing_cursor((last.created_at, last.operation_id), statuses=statuses, types=types)
        if last
        else None
    )
    filters = {k: v.value for k, v in (("status", status), ("type", type_)) if v is not None}
    return render(
        request,
        "operations.html",
        signed=signed,
        items=items,
        status=status.value if status else None,
        type=type_.value if type_ else None,
        statuses=[s.value for s in OperationStatus],
        types=[t.value for t in OperationType],
        filters=filters,
        next_cursor=following,
    )


def _chosen(request: Request, name: str, enum: type[E], what: str) -> E | None:
    """The filter `name` of the query, one of `enum`'s values, or None when not given."""
    given = request.query_params.get(name) or None
    if given is None:
        return None
    try:
        return enum(given)
    except ValueError:
        raise InvalidRequest(f"{name}: {given!r} is not {what}", field=name) from None


@router.get("/operations/{operation_id}", response_class=HTMLResponse)
async def operation(request: Request, operation_id: str) -> Response:
    """Show one operation: its plan and hash, steps, checks, findings and ledger timeline."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    async with runtime.session(read_only=True) as session:
        found = await load_operation(session, operation_id)
        entries = [
            to_entry(e) for e in await ledger_store.select_operation_entries(session, operation_id)
        ]
    return render(
        request,
        "operation.html",
        signed=signed,
        op=found,
        entries=entries,
        can=offers(
            signed.identity,
            status=found.status,
            requester=found.request.requested_by,
            emergency=found.acknowledgement_deadline is not None and found.acknowledged_by is None,
            reviewed=found.review is not None,
        ),
        critical=(
            found.planning_result is not None and found.planning_result.risk_level == "critical"
        ),
    )
