"""The console's log analysis: run ``triad logs analyze`` from a form, see the latest result.

The analysis is read on demand (the API's ``GET /logs/analysis``), so the page runs it when
asked, with the API's rules: any signed-in role may (the API's ``Viewer``), ``since`` is a
duration before now or an ISO 8601 time (at most 40 characters, a range no longer than the
service allows), the source one of the server's. The latest result is kept in this process
only (a read, not a record) and shown to every signed-in person, as the API would show it.
Its lines are as the analysis keeps them: templates masked, examples with secrets masked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from triadops.domain.clock import utcnow
from triadops.domain.errors import Conflict, InvalidRequest, NotFound
from triadops.domain.log_figures import read_since
from triadops.ops.logs.models import LogAnalysis
from triadops.ops.logs.reader import sources
from triadops.ops.logs.service import analyze_in_thread
from triadops.web import sessions
from triadops.web.render import read_form, render, runtime_of

router = APIRouter()

MAX_SINCE = 40
"""The longest ``since`` read, as the API's query allows."""
MAX_SOURCE = 200
"""The longest source name read, as the API's query allows."""
DEFAULT_SINCE = "24h"
TEMPLATES_SHOWN = 50
"""Templates the page lists, most frequent first."""


@dataclass
class Latest:
    """The latest analysis this console ran, who asked for it, and the one-at-a-time lock."""

    analysis: LogAnalysis | None = None
    by: str | None = None
    since: str = DEFAULT_SINCE
    source: str = ""
    running: asyncio.Lock = field(default_factory=asyncio.Lock)


def latest_of(request: Request) -> Latest:
    """Return the console's holder of the latest analysis (made on first use)."""
    state = request.app.state
    if not hasattr(state, "log_analysis"):
        state.log_analysis = Latest()
    held: Latest = state.log_analysis
    return held


@router.get("/logs", response_class=HTMLResponse)
async def logs_page(request: Request) -> Response:
    """Show the latest log analysis and the form that runs another."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    return _page(request, signed, error=None)


def _page(
    request: Request,
    signed: sessions.Signed,
    *,
    error: str | None,
    since: str | None = None,
    source: str | None = None,
    status_code: int = 200,
) -> Response:
    held = latest_of(request)
    return render(
        request,
        "logs.html",
        status_code=status_code,
        signed=signed,
        latest=held.analysis,
        by=held.by,
        since=held.since if since is None else since,
        source=held.source if source is None else source,
        sources=sorted(sources(runtime_of(request).settings)),
        error=error,
        shown=TEMPLATES_SHOWN,
    )


@router.post("/logs", response_class=HTMLResponse)
async def analyze_logs(request: Request) -> Response:
    """Run the analysis over ``since`` (and one source, or all); a bad value changes nothing."""
    runtime = runtime_of(request)
    signed = await sessions.signed_in(runtime, request)
    form = await read_form(request)
    sessions.check_csrf(signed, form.get("csrf"))
    since = form.get("since", "").strip() or DEFAULT_SINCE
    source = form.get("source", "").strip()
    held = latest_of(request)
    try:
        if len(since) > MAX_SINCE:
            raise InvalidRequest(f"since: longer than {MAX_SINCE} characters", field="since")
        if len(source) > MAX_SOURCE:
            raise InvalidRequest(f"source: longer than {MAX_SOURCE} characters", field="source")
        start = read_since(since, utcnow(), field="since")
        if held.running.locked():
            raise Conflict("an analysis is running already; try again when it ends")
        async with held.running:
            found = await analyze_in_thread(runtime.settings, start, None, source or None)
    except (InvalidRequest, NotFound, Conflict) as exc:
        shown = since[:MAX_SINCE]
        return _page(
            request, signed, error=exc.message, since=shown, source="", status_code=exc.status_code
        )
    held.analysis, held.by, held.since, held.source = found, signed.identity.name, since, source
    return RedirectResponse(f"{request.scope.get('root_path', '')}/logs", status_code=303)
