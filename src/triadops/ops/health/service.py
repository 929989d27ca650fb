"""Take a health check, store it with a bounded history, and read stored reports back.

A check only reads: its database reads use read-only sessions (no write lock on SQLite),
and its network I/O (targets) happens outside any transaction. Storing is a short write
transaction of its own, with no I/O inside it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.powers import Powers
from triadops.domain.clock import utcnow
from triadops.domain.health import HealthReport
from triadops.ops.health.api_errors import ApiErrorsCollector, RequestCounts
from triadops.ops.health.branches import BranchCollector
from triadops.ops.health.collectors import Collector, Reading, run_collectors
from triadops.ops.health.host import HostCollector
from triadops.ops.health.models import history as history
from triadops.ops.health.models import latest as latest
from triadops.ops.health.models import report_of as report_of
from triadops.ops.health.policy import Held, hold
from triadops.ops.health.report import build_report
from triadops.ops.health.targets import DatabaseCollector, HttpTargetCollector
from triadops.storage import health as store
from triadops.storage import workers


def default_collectors(
    powers: Powers, *, request_counts: RequestCounts | None = None
) -> list[Collector]:
    """Return the configured collectors: host, each database, each HTTP target, the branches.

    Build them once and pass them to every `check_health`: the host collector keeps its
    last CPU reading and the API's keeps its last counts, so each figure covers the time
    since the previous check. The API's error rate is collected only where `request_counts`
    is given (the process that serves the API).
    """
    health = powers.settings.health
    limits = health.thresholds
    collectors: list[Collector] = [
        HostCollector(
            data_dir=powers.settings.home, disk_paths=health.disk_paths, thresholds=limits
        )
    ]
    collectors += [
        DatabaseCollector(powers.databases, name, threshold_s=limits.response_time_s)
        for name in powers.databases.names()
    ]
    collectors += [
        HttpTargetCollector(name, str(url), threshold_s=limits.response_time_s)
        for name, url in sorted(health.http_targets.items())
    ]
    if request_counts is not None:
        collectors.append(ApiErrorsCollector(request_counts, threshold=limits.error_rate))
    collectors.append(
        BranchCollector(powers.reading, health, beat_s=powers.settings.monitor_heartbeat_s)
    )
    return collectors


async def check_health(
    powers: Powers,
    *,
    now: datetime | None = None,
    collectors: Sequence[Collector] | None = None,
) -> HealthReport:
    """Run every collector concurrently, each within the collector timeout, and score them.

    Returns within about ``health.collector_timeout_s`` whatever the collectors do: one that
    hangs or fails reports its checks unknown. `collectors` defaults to
    `default_collectors` (built afresh: pass kept ones for a loop). Stores nothing.
    """
    reading = Reading(now=now or utcnow())
    started = time.perf_counter()
    checks = await run_collectors(
        default_collectors(powers) if collectors is None else collectors,
        reading,
        timeout_s=powers.settings.health.collector_timeout_s,
    )
    return build_report(
        checks,
        checked_at=reading.now,
        duration_s=time.perf_counter() - started,
        counters=reading.counters,
    )


async def hold_alerts(powers: Powers, report: HealthReport) -> tuple[HealthReport, Held]:
    """Hold `report`'s conditions against the newest stored report's alert tracks.

    Returns the report as the monitoring loop stores it (its alerts those held firing, its
    pending conditions, its tracks for the next check) and what the hold decided.
    """
    health = powers.settings.health
    async with powers.reading() as session:
        previous = await latest(session)
    held = hold(
        report.alerts,
        previous.counters.alert_tracks if previous is not None else [],
        now=report.checked_at,
        previous_at=previous.checked_at if previous is not None else None,
        timings=health.timing,
        grace_s=2 * health.every_s + health.collector_timeout_s,
    )
    counters = report.counters.model_copy(update={"alert_tracks": held.tracks})
    return (
        report.model_copy(
            update={"alerts": held.firing, "pending": held.pending, "counters": counters}
        ),
        held,
    )


async def store_report(
    session: AsyncSession, report: HealthReport, *, keep: int, window_s: float | None = None
) -> HealthReport:
    """Store `report` and delete all but the newest `keep`; return it with its id.

    With `window_s`, also prune worker heartbeats silent for longer than the window plus a
    day. The caller commits (`save_report` does both).
    """
    document = report.model_dump(mode="json", exclude={"id"})
    document["counters"] = report.counters.model_dump(mode="json")
    report_id = await store.add_report(
        session,
        checked_at=report.checked_at,
        score=report.score,
        status=report.status.value,
        report=document,
    )
    await store.prune_reports(session, keep=keep)
    if window_s is not None:
        await workers.prune(session, now=report.checked_at, window_s=window_s)
    return report.model_copy(update={"id": report_id})


async def save_report(powers: Powers, report: HealthReport) -> HealthReport:
    """Store `report` in a short transaction of its own, keeping ``health.history`` reports."""
    health = powers.settings.health
    async with powers.sessions() as session:
        stored = await store_report(session, report, keep=health.history, window_s=health.window_s)
        await session.commit()
    return stored
