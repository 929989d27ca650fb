"""The log analysis: what the server's logs of a range say (read only, any role).

The server reads its own files: ``$TRIAD_HOME/logs`` and the ``log_dirs`` it is configured
with, in a worker thread.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from triadops.api.deps import RuntimeDep, Viewer
from triadops.api.schemas import problems
from triadops.domain.clock import utcnow
from triadops.domain.log_figures import read_since
from triadops.ops.logs.models import LogAnalysis
from triadops.ops.logs.service import analyze_in_thread

router = APIRouter(tags=["logs"], responses=problems(401, 403))


@router.get("/logs/analysis", operation_id="analyze_logs", responses=problems(404, 422))
async def analysis(
    identity: Viewer,
    runtime: RuntimeDep,
    since: Annotated[
        str,
        Query(
            max_length=40,
            description="Start: a duration before now (24h, 90m, 1h30m, 7d) or ISO 8601.",
        ),
    ] = "24h",
    until: Annotated[
        str | None, Query(max_length=40, description="End: as since; default now.")
    ] = None,
    source: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="triad (its own logs) or a log_dirs folder's name; default all.",
        ),
    ] = None,
) -> LogAnalysis:
    """Count lines by branch and level, mine error templates, compare with the range before."""
    now = utcnow()
    start = read_since(since, now, field="since")
    end = read_since(until, now, field="until") if until is not None else None
    return await analyze_in_thread(runtime.settings, start, end, source)
