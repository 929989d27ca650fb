"""The constitutional health report: host, databases, targets and each branch's figures.

Open like ``/health`` (no token) and read-only. ``GET /constitutional-health`` answers with
the newest stored report while it is fresher than twice the monitoring loop's interval;
otherwise (no loop running, or it stopped) it checks now and answers with that, storing
nothing. Either way the answer is shared: concurrent callers join the one lookup or check
in flight, and an answer is reused for `ANSWER_REUSE_S`, so a flood of requests costs at
most one check every few seconds. Nothing in it is secret: databases and targets are named
by their configured names, never by their URLs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from triadops.api.deps import ReadSessionDep, RuntimeDep
from triadops.api.schemas import problems
from triadops.domain.clock import monotonic, utcnow
from triadops.domain.health import HealthReport, HealthReportSummary
from triadops.ops.health import (
    Collector,
    RequestCounts,
    check_health,
    default_collectors,
    history,
    latest,
)
from triadops.runtime import Runtime

router = APIRouter(prefix="/constitutional-health", tags=["health"])

ANSWER_REUSE_S = 5.0
"""How long one answer is reused for every caller."""
ANSWERS_STATE = "constitutional_health"
"""Key of the app's state under which the route keeps its shared `Answers`."""
REQUEST_COUNTS_STATE = "request_counts"
"""Key of the app's state where the API's `RequestCounts` live, once the middleware counts."""
MAX_ID = 2**31 - 1


class ConstitutionalHealth(HealthReport):
    """A health report as served, with its age and where it came from."""

    age_s: float = Field(ge=0)
    """Seconds since the report was checked."""
    stored: bool
    """True: the newest stored report. False: checked for this answer, and not stored."""


class HealthHistory(BaseModel):
    """Stored reports' headlines, newest first."""

    items: list[HealthReportSummary]
    next_before: int | None
    """Pass as ``before`` for the next page; None on the last one."""


class Answers:
    """One answer at a time, shared by every caller and reused for a few seconds."""

    def __init__(self, runtime: Runtime, counts: RequestCounts | None) -> None:
        self.runtime = runtime
        self.counts = counts
        self.collectors: list[Collector] | None = None
        self._last: tuple[float, HealthReport, bool] | None = None
        self._finding: asyncio.Task[tuple[HealthReport, bool]] | None = None

    async def answer(self) -> tuple[HealthReport, bool]:
        """Return (report, stored): the recent answer, or join or start the next one."""
        if self._last is not None and monotonic() - self._last[0] < ANSWER_REUSE_S:
            return self._last[1], self._last[2]
        if self._finding is None or self._finding.done():
            self._finding = asyncio.create_task(self._find(), name="constitutional health")
        # Shielded: a caller that goes away must not cancel what the others wait for.
        return await asyncio.shield(self._finding)

    async def _find(self) -> tuple[HealthReport, bool]:
        settings = self.runtime.settings.health
        stored = await self._newest(timeout_s=settings.collector_timeout_s)
        fresh = timedelta(seconds=2 * settings.every_s)
        if stored is not None and utcnow() - stored.checked_at <= fresh:
            found = (stored, True)
        else:
            if self.collectors is None:
                self.collectors = default_collectors(
                    self.runtime.powers, request_counts=self.counts
                )
            found = (await check_health(self.runtime.powers, collectors=self.collectors), False)
        self._last = (monotonic(), *found)
        return found

    async def _newest(self, *, timeout_s: float) -> HealthReport | None:
        """Return the newest stored report; None when the database cannot say in time.

        The check that follows then shows the database's trouble, rather than a 500.
        """
        try:
            async with asyncio.timeout(timeout_s), self.runtime.session(read_only=True) as s:
                return await latest(s)
        except (SQLAlchemyError, OSError, TimeoutError):
            return None


def _answers(request: Request, runtime: Runtime) -> Answers:
    answers = getattr(request.app.state, ANSWERS_STATE, None)
    if not isinstance(answers, Answers):
        counts = getattr(request.app.state, REQUEST_COUNTS_STATE, None)
        answers = Answers(runtime, counts if isinstance(counts, RequestCounts) else None)
        setattr(request.app.state, ANSWERS_STATE, answers)
    return answers


@router.get("", operation_id="read_constitutional_health")
async def read(request: Request, runtime: RuntimeDep) -> ConstitutionalHealth:
    """Show the health of the host, databases, targets, the API and each of the four branches.

    The newest stored report while it is fresher than twice the monitoring interval
    (``stored`` true); otherwise a check taken now and not stored (``stored`` false). One
    answer is shared by concurrent callers and reused for a few seconds. No token needed;
    no secret in it.
    """
    report, stored = await _answers(request, runtime).answer()
    age_s = max((utcnow() - report.checked_at).total_seconds(), 0.0)
    return ConstitutionalHealth(**report.model_dump(), age_s=age_s, stored=stored)


@router.get("/history", operation_id="list_constitutional_health", responses=problems(422))
async def list_reports(
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only reports older than this id.")
    ] = None,
) -> HealthHistory:
    """List stored health reports, newest first: when, score and status. No token needed."""
    items = await history(session, limit=limit, before_id=before)
    return HealthHistory(
        items=items, next_before=items[-1].id if len(items) == limit and items else None
    )
