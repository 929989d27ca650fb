"""The console's maintenance calendar: windows and blackouts ahead, scheduled work, routines."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from triadops.domain.clock import utcnow
from triadops.domain.enums import OperationStatus
from triadops.domain.windows import zone
from triadops.ops.maintenance import models as tasks
from triadops.ops.maintenance.calendar import upcoming
from triadops.storage.listing import list_operations
from triadops.storage.records import operation_summary
from triadops.web import sessions
from triadops.web.render import render, runtime_of

router = APIRouter()

DAYS = 7
"""How far ahead the calendar looks."""
LISTED = 50
"""Scheduled operations the page lists, soonest created first."""


@router.get("/maintenance", response_class=HTMLResponse)
async def calendar_page(request: Request) -> Response:
    """Show the week's windows and blackouts (UTC), scheduled operations and routine tasks."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    now = utcnow()
    openings = upcoming(runtime.settings, days=DAYS, tz=zone("UTC"), now=now)
    async with runtime.session(read_only=True) as session:
        routines = await tasks.list_tasks(session, runtime.settings, now=now)
        rows = await list_operations(session, statuses=[OperationStatus.SCHEDULED], limit=LISTED)
    return render(
        request,
        "maintenance.html",
        signed=signed,
        openings=openings,
        days=DAYS,
        routines=routines,
        scheduled=[operation_summary(r) for r in rows],
    )
