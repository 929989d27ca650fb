"""The console's troubleshooting pages: incidents (a listing and one report) and runbooks.

They read what ``triad incidents list|show``, ``triad runbooks record`` and the API's
incident and runbook routes read: the stored reports, the runbook catalogue and the
standard-change records of each resolution's plans. Every value a person or a log wrote
(an incident's detail, a runbook's description) is rendered by autoescaped templates.
"""

from __future__ import annotations

import re
from typing import get_args

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.runbooks import Incident, IncidentStatus
from triadops.ops.standards.service import runbook_record
from triadops.storage.incidents import incident_page, read_incident
from triadops.storage.listing import keyset_cursor, keyset_position
from triadops.storage.operations import get_operation
from triadops.web import sessions
from triadops.web.render import render, runtime_of

router = APIRouter()

PAGE = 25
"""Incidents on one page of the listing."""
STATUSES: tuple[str, ...] = get_args(IncidentStatus)
INCIDENT_ID = re.compile(r"inc-[0-9a-f]{12}")
RUNBOOK_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _filters(request: Request) -> tuple[str | None, str | None]:
    """Return the listing's status and runbook filters, refusing a value no incident has."""
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status: {status!r} is not an incident status", field="status")
    runbook = request.query_params.get("runbook") or None
    if runbook is not None and not RUNBOOK_NAME.fullmatch(runbook):
        raise InvalidRequest(f"runbook: {runbook[:80]!r} is not a runbook name", field="runbook")
    return status, runbook


@router.get("/incidents", response_class=HTMLResponse)
async def incidents_page(request: Request) -> Response:
    """List incident reports newest first, by status or runbook, a page at a time (cursor)."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    status, runbook = _filters(request)
    scope = f"incidents:{status or ''}:{runbook or ''}"
    cursor = request.query_params.get("cursor") or None
    after = keyset_position(cursor, scope=scope, filters="status, runbook") if cursor else None
    async with runtime.session(read_only=True) as session:
        rows = await incident_page(session, status=status, runbook=runbook, after=after, limit=PAGE)
    items = [Incident.model_validate(report) for _, _, report in rows]
    following = keyset_cursor(rows[-1][:2], scope=scope) if len(rows) == PAGE else None
    return render(
        request,
        "incidents.html",
        signed=signed,
        items=items,
        status=status,
        runbook=runbook,
        statuses=STATUSES,
        next_cursor=following,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident_page_one(request: Request, incident_id: str) -> Response:
    """Show one incident: its runbook, diagnosis, resolution's operation, validation, timeline."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    if not INCIDENT_ID.fullmatch(incident_id):
        raise InvalidRequest(
            f"incident_id: {incident_id[:80]!r} is not an incident id (inc- and 12 hex digits)",
            field="incident_id",
        )
    operation_status: str | None = None
    async with runtime.session(read_only=True) as session:
        found = await read_incident(session, incident_id)
        if found is None:
            raise NotFound(f"no incident {incident_id!r}", field="incident_id")
        incident = Incident.model_validate(found)
        operation_id = incident.chosen.operation_id if incident.chosen else None
        if operation_id is not None:
            try:
                operation_status = (await get_operation(session, operation_id)).status
            except NotFound:
                operation_status = None
    return render(
        request,
        "incident.html",
        signed=signed,
        incident=incident,
        after={v.name: v for v in incident.validation},
        operation_status=operation_status,
    )


@router.get("/runbooks", response_class=HTMLResponse)
async def runbooks_page(request: Request) -> Response:
    """List the runbooks in force: the shipped scenarios and this server's own."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    return render(request, "runbooks.html", signed=signed, entries=runtime.runbooks.entries)


@router.get("/runbooks/{name}", response_class=HTMLResponse)
async def runbook_page(request: Request, name: str) -> Response:
    """Show one runbook and its record: incidents by outcome, its resolutions' plans."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    if not RUNBOOK_NAME.fullmatch(name):
        raise InvalidRequest(f"name: {name[:80]!r} is not a runbook name", field="name")
    entry = runtime.runbooks.get(name)
    async with runtime.session(read_only=True) as session:
        record = await runbook_record(session, entry.runbook)
    return render(
        request,
        "runbook.html",
        signed=signed,
        entry=entry,
        runbook=entry.runbook,
        record=record,
        resolutions={r.name: r for r in entry.runbook.resolutions},
    )
