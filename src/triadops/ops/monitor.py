"""The monitoring loop every worker runs beside its operations (and so ``triad serve`` too).

Every worker beats (``storage.workers``), which is what branch availability is read from.
One of them leads, holding the ``monitor`` lease: the leader folds the ledger into stage
totals, runs a full health check every ``health.every_s``, feeds the alerts it raises (and
resolves those it no longer raises), runs the alert coordination cycle every
``alerts.every_s`` (expiries, change-linked silences that outlived their operation), counts
operations into the usage buckets and prunes old ones every ``usage.every_s``, runs the
routine maintenance task scheduler every ``maintenance.every_s``, and on each tick flushes
due notification groups, escalates and delivers. A leader that dies stops
renewing; another worker takes the lease over once it expires, within one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from triadops.constitution import lifecycle
from triadops.constitution.powers import Powers
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.enums import OperationStatus
from triadops.domain.health import HealthReport, RaisedAlert
from triadops.domain.operations import utcnow
from triadops.ops import stages, unacknowledged
from triadops.ops.alerts import dispatch, matching, service, silences
from triadops.ops.health.api_errors import RequestCounts
from triadops.ops.health.collectors import Collector
from triadops.ops.health.service import (
    check_health,
    default_collectors,
    hold_alerts,
    save_report,
)
from triadops.ops.maintenance.scheduled import SchedulerPass, TaskScheduler, record_usage
from triadops.ops.runbooks.scheduled import AlertRunbooks
from triadops.ops.security.scheduled import follow_reports
from triadops.ops.standards.scheduled import follow_proposals
from triadops.storage import agent_calls, change_silences, leases, workers

log = structlog.stdlib.get_logger(__name__)
T = TypeVar("T")

LEADER_LEASE = "monitor"
HEALTH_SOURCE = "health"
MONITOR = "monitor"


@dataclass
class TickResult:
    """What one tick did (for tests and logs)."""

    leader: bool = False
    beat: bool = False
    folded: int = 0
    report: HealthReport | None = None
    alerts_cycle: bool = False
    delivered: int = 0
    closed_silences: list[str] = field(default_factory=list)
    paged: int = 0
    """Pages raised to the crown for emergencies nobody acknowledged in time."""
    tasks: SchedulerPass | None = None
    """What the routine task scheduler did, on a tick it ran."""
    usage_buckets: int | None = None
    """Operation buckets counted this tick (None: not the usage pass's turn)."""
    troubleshooting: list[int] = field(default_factory=list)
    """Firing alerts whose runbook this tick started."""


class Monitor:
    """One worker's monitoring loop; `tick` does one pass and `run` repeats it."""

    def __init__(
        self,
        powers: Powers,
        *,
        owner: str,
        request_counts: RequestCounts | None = None,
        clock: Callable[[], datetime] = utcnow,
        collectors: Sequence[Collector] | None = None,
    ) -> None:
        self.powers = powers
        self.owner = owner
        self.clock = clock
        # Built once: the host and API collectors keep their last reading between checks.
        self.collectors = (
            list(collectors)
            if collectors is not None
            else default_collectors(powers, request_counts=request_counts)
        )
        self.started_at = clock()
        self.next_beat: datetime | None = None
        self.lease_until: datetime | None = None
        self.next_health: datetime | None = None
        self.next_alerts: datetime | None = None
        self.next_tasks: datetime | None = None
        self.scheduler = TaskScheduler(powers)
        self.security_seen: int | None = None
        """The newest security report whose alerts this leader raised."""
        self.next_usage: datetime | None = None
        self.runbooks = AlertRunbooks(powers)

    @property
    def lease_s(self) -> float:
        """How long a leader's lease lasts unrenewed: a successor takes over within it."""
        s = self.powers.settings
        return max(3 * s.monitor_tick_s, min(s.health.every_s, s.alerts.every_s, 60.0))

    async def tick(self) -> TickResult:
        """Do one pass; each part fails alone (logged), never the loop."""
        now = self.clock()
        result = TickResult()
        if self.next_beat is None or now >= self.next_beat:
            result.beat = await self._guarded("heartbeat", self._beat(now), False)
        result.leader = await self._guarded("leader lease", self._lead(now), False)
        if not result.leader:
            return result
        result.folded = await self._guarded("stage fold", stages.fold_all(self.powers), 0)
        if self.next_health is None or now >= self.next_health:
            self.next_health = now + timedelta(seconds=self.powers.settings.health.every_s)
            result.report = await self._guarded("health check", self.check(now), None)
        if self.next_alerts is None or now >= self.next_alerts:
            self.next_alerts = now + timedelta(seconds=self.powers.settings.alerts.every_s)
            result.closed_silences = await self._guarded(
                "alert coordination", self.coordinate(now), []
            )
            result.paged = await self._guarded(
                "unacknowledged emergencies", self.page_unacknowledged(now), 0
            )
            self.security_seen = await self._guarded(
                "security findings",
                follow_reports(self.powers, now=now, seen=self.security_seen),
                self.security_seen,
            )
            result.troubleshooting = await self._guarded(
                "runbooks on alerts", self.runbooks.run(), []
            )
            await self._guarded(
                "standard change proposals", follow_proposals(self.powers, now=now), 0
            )
            result.alerts_cycle = True
        if self.next_tasks is None or now >= self.next_tasks:
            self.next_tasks = now + timedelta(seconds=self.powers.settings.maintenance.every_s)
            result.tasks = await self._guarded(
                "maintenance tasks", self.scheduler.run(now=now), None
            )
        if self.next_usage is None or now >= self.next_usage:
            self.next_usage = now + timedelta(seconds=self.powers.settings.usage.every_s)
            result.usage_buckets = await self._guarded(
                "usage", record_usage(self.powers, now=now), None
            )
        cycle = await self._guarded(
            "notifications",
            dispatch.run_cycle(
                self.powers.sessions,
                now=now,
                settings=self.powers.settings.alerts,
                owner=self.owner,
            ),
            None,
        )
        if cycle is not None:
            result.delivered = cycle.delivery.sent
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``monitor_tick_s`` until `stop` is set; then record a clean stop."""
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.powers.settings.monitor_tick_s)
        await self._guarded("stop", self._stop(self.clock()), None)

    async def check(self, now: datetime) -> HealthReport:
        """Run a full health check, hold its alerts, store it, and raise or resolve alerts.

        Hysteresis (`hold_alerts`) continues the alert tracks stored with the newest report,
        so a condition must hold for its ``for`` before it fires and be clear for its
        clear-after before it resolves, whichever worker led the checks before.
        """
        report = await check_health(self.powers, now=now, collectors=self.collectors)
        report, held = await hold_alerts(self.powers, report)
        stored = await save_report(self.powers, report)
        raised = [_alert_in(alert) for alert in held.raised]
        # A pending condition keeps an alert that is already open (raised before the tracks
        # were kept, say): it is not resolved while its condition holds.
        still_open = {_alert_in(alert).fingerprint for alert in held.firing + held.pending}
        async with self.powers.sessions() as session:
            if raised:
                await service.ingest(
                    session,
                    raised,
                    source=HEALTH_SOURCE,
                    now=now,
                    settings=self.powers.settings.alerts,
                )
            await service.auto_resolve(session, source=HEALTH_SOURCE, present=still_open, now=now)
            await lifecycle.commit(session)
        return stored

    async def coordinate(self, now: datetime) -> list[str]:
        """Expire what ended; close and report change-linked silences gone stale.

        A change-linked silence is stale when its operation is over (or gone) or it ran past
        ``alerts.change_silence_max_s``. Returns the ids of the silences it closed.
        """
        settings = self.powers.settings.alerts
        oldest = now - timedelta(seconds=settings.change_silence_max_s)
        async with self.powers.reading() as session:
            running = await change_silences.open_change_silences(session, now=now)
            stale = [
                (silence_id, op_id)
                for silence_id, op_id, created_at, status in running
                if status is None or OperationStatus(status).is_final or created_at < oldest
            ]
            # Silences are matched here, before the write transaction, never under its lock.
            leaving = [silence_id for silence_id, _ in stale]
            releases = await matching.plan_release(session, now=now, leaving=leaving)
            mutes = await matching.plan_mute(session, now=now)
        async with self.powers.sessions() as session:
            closed: list[str] = []
            ended: list[tuple[str, str]] = []
            if stale:
                ended = await change_silences.end_silences(
                    session, [op_id for _, op_id in stale], now=now
                )
                closed = [silence_id for silence_id, _ in ended]
            await service.housekeep(session, now=now, moves=releases)
            await agent_calls.prune_calls(session, keep=self.powers.settings.agents.keep_calls)
            # Change-linked silences open without looking at alerts: mute what they cover.
            await silences.mute_audible(session, now=now, moves=mutes)
            await lifecycle.commit(session)
        if ended:
            # Its own transaction, which ingest begins after matching the silences.
            async with self.powers.sessions() as session:
                reported = [_outlived(op_id) for _, op_id in ended]
                await service.ingest(session, reported, source=MONITOR, now=now, settings=settings)
                await lifecycle.commit(session)
        return closed

    async def page_unacknowledged(self, now: datetime) -> int:
        """Page the crown for overdue emergency acknowledgements; resolve answered pages."""
        async with self.powers.reading() as session:
            if not await unacknowledged.pages_due(session, now=now):
                return 0
            pages = await unacknowledged.pages_to_raise(session, now=now)
            prepared = await matching.prepare_ingest(session, pages, now=now)
        async with self.powers.sessions() as session:
            raised, _ = await unacknowledged.page_unacknowledged(
                session, now=now, settings=self.powers.settings.alerts, prepared=prepared
            )
            await lifecycle.commit(session)
        return raised

    async def _beat(self, now: datetime) -> bool:
        beat_s = self.powers.settings.monitor_heartbeat_s
        async with self.powers.sessions() as session:
            await workers.beat(
                session, name=self.owner, now=now, started_at=self.started_at, beat_s=beat_s
            )
            await session.commit()
        self.next_beat = now + timedelta(seconds=beat_s)
        return True

    async def _lead(self, now: datetime) -> bool:
        # Renew only past half the lease: an idle leader writes every few ticks, not each.
        if self.lease_until is not None and now < self.lease_until - timedelta(
            seconds=self.lease_s / 2
        ):
            return True
        async with self.powers.sessions() as session:
            held = await leases.hold(
                session, name=LEADER_LEASE, holder=self.owner, now=now, ttl_s=self.lease_s
            )
            await session.commit()
        if held and self.lease_until is None:
            log.info("monitoring leader", owner=self.owner)
        self.lease_until = now + timedelta(seconds=self.lease_s) if held else None
        return held

    async def _stop(self, now: datetime) -> None:
        await self.runbooks.stop()
        async with self.powers.sessions() as session:
            await workers.stop(session, name=self.owner, now=now)
            if self.lease_until is not None:
                await leases.release(session, name=LEADER_LEASE, holder=self.owner, now=now)
            await session.commit()
        self.lease_until = None

    async def _guarded(self, what: str, work: Awaitable[T], fallback: T) -> T:
        try:
            return await work
        except Exception as exc:
            # Not exc_info: frames would carry local variables (settings, URLs) into the log.
            log.warning("monitoring step failed", step=what, error=f"{type(exc).__name__}: {exc}")
            return fallback


def _alert_in(alert: RaisedAlert) -> AlertIn:
    """Return a health alert as the alerts service takes it, from the health source."""
    return AlertIn(
        labels={**alert.labels, "alertname": alert.alertname, "source": HEALTH_SOURCE},
        annotations={"summary": alert.summary},
        severity=alert.severity,
    )


def _outlived(op_id: str) -> AlertIn:
    """The alert that says an operation's change-linked silence outlived it and was closed."""
    return AlertIn(
        labels={
            "alertname": "ChangeSilenceOutlivedOperation",
            "operation_id": op_id,
            "source": MONITOR,
        },
        annotations={"summary": f"the silence of operation {op_id} outlived it and was closed"},
        severity=Severity.WARNING,
    )
