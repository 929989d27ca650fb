"""Work that needs a window: placed at the quietest slot, or moved to the next one that fits.

A request names the window it needs (``window``: ``any``, or a window's name; a procedure may
declare it). With no time, it is placed at the optimal slot (``domain.placement``) within
``usage.horizon_days``: the quietest stretch of its expected duration, predicted from the
affected system's Prometheus rate when one is configured and answers, else from triad's own
recorded usage. With a time that does not leave the slot inside the window, clear of the
blackouts, it moves to the next slot that fits. Read in the review's read session, outside
any write transaction (the Prometheus query is network I/O).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.legislative import prometheus
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import OperationRequest
from triadops.domain.placement import (
    expected_duration,
    first_fit,
    optimal_slot,
    predicted_usage,
)
from triadops.domain.windows import ANY_WINDOW, MaintenanceWindow, named
from triadops.settings import Settings
from triadops.storage import usage

log = structlog.stdlib.get_logger(__name__)


def needed_windows(settings: Settings, name: str) -> list[MaintenanceWindow]:
    """Return the windows a request's ``window`` allows, or refuse an unknown name."""
    windows = settings.maintenance_windows
    allowed = named(windows, name)
    if not allowed:
        known = ", ".join([ANY_WINDOW, *(w.name for w in windows)])
        raise InvalidRequest(
            f"window: no maintenance window named {name!r} (one of: {known})", field="window"
        )
    return allowed


@dataclass(frozen=True, slots=True)
class Usage:
    """The predicted usage of each bucket of the week, and where it came from."""

    per_bucket: list[float]
    source: str
    """``triad's own usage`` or ``Prometheus (system)``, said in the recommendation."""
    failures: list[str]
    """Each Prometheus query that failed, in one line."""


async def _usage(
    session: AsyncSession, settings: Settings, request: OperationRequest, now: datetime
) -> Usage:
    sources = settings.usage.prometheus
    configured = [s for s in sorted(set(request.affected_systems)) if s in sources]
    failures: list[str] = []
    series: list[tuple[datetime, float]] = []
    read: list[str] = []
    for system in configured:
        try:
            series += await prometheus.request_rate(sources[system], now=now)
            read.append(system)
        except prometheus.PrometheusFailed as exc:
            log.warning("prometheus query failed", system=system, error=str(exc))
            failures.append(f"Prometheus for {system} failed: {exc}")
    if read and not failures:
        return Usage(predicted_usage(series), f"Prometheus ({', '.join(read)})", [])
    since = now - timedelta(days=settings.usage.keep_days)
    own = await usage.recorded(session, since=since)
    return Usage(predicted_usage(own), "triad's own usage", failures)


async def _needed(
    session: AsyncSession, request: OperationRequest, declared_s: float | None
) -> tuple[timedelta, str]:
    runs = await usage.completed_durations(
        session, procedure=request.procedure, operation_type=request.operation_type.value
    )
    needed = expected_duration(runs, declared_s)
    if runs:
        of = request.procedure or f"{request.operation_type.value} without a procedure"
        said = f"the p90 of {len(runs)} completed runs of {of}"
    elif declared_s:
        said = "the procedure's expected_duration_s"
    else:
        said = "the 30-minute minimum"
    return needed, said


async def place_in_window(
    session: AsyncSession,
    settings: Settings,
    request: OperationRequest,
    *,
    now: datetime,
    declared_s: float | None = None,
) -> tuple[OperationRequest, list[str]]:
    """Return the request at the slot its window allows, and why (for the recommendation)."""
    assert request.window is not None
    windows = needed_windows(settings, request.window)
    blackouts = settings.maintenance_blackouts
    needed, why_long = await _needed(session, request, declared_s)
    minutes = f"{needed.total_seconds() / 60:g} min ({why_long})"
    until = now + timedelta(days=settings.usage.horizon_days)
    if request.scheduled_time is None:
        found = await _usage(session, settings, request, now)
        choice = optimal_slot(
            windows=windows,
            blackouts=blackouts,
            usage=found.per_bucket,
            needed=needed,
            after=now,
            until=until,
        )
        if choice is None:
            raise _no_room(request.window, minutes, settings.usage.horizon_days)
        opens, closes = choice.occurrence
        note = (
            f"placed in window {choice.window} (occurrence {opens.isoformat()} to "
            f"{closes.isoformat()}) at {choice.starts.isoformat()}: the lowest predicted "
            f"usage, {choice.usage:.1f} requests per 5 minutes from {found.source}, "
            f"for {minutes}"
        )
        placed = request.model_copy(update={"scheduled_time": choice.starts})
        return placed, [*found.failures, note]
    when = max(request.scheduled_time, now)
    fit = first_fit(windows=windows, blackouts=blackouts, needed=needed, after=when, until=until)
    if fit is None:
        raise _no_room(request.window, minutes, settings.usage.horizon_days)
    starts, name, (opens, closes) = fit
    occurrence = f"window {name} (occurrence {opens.isoformat()} to {closes.isoformat()})"
    if starts == when:
        return request, [f"{when.isoformat()} lies in {occurrence} with room for {minutes}"]
    note = (
        f"{when.isoformat()} is outside window {request.window} or leaves no room for "
        f"{minutes} clear of blackouts; moved to the next slot that fits: "
        f"{starts.isoformat()} in {occurrence}"
    )
    return request.model_copy(update={"scheduled_time": starts}), [note]


def _no_room(window: str, minutes: str, days: int) -> InvalidRequest:
    return InvalidRequest(
        f"window: no occurrence of {window!r} within {days} days has {minutes} clear of blackouts",
        field="window",
    )
