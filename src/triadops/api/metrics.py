"""``/metrics``: the Prometheus text format, ``triad_`` prefix, Prometheus naming.

Where the figures come from, so that several processes never contradict each other:
- Everything about the pipeline, the health report, alerts, notifications and the agents'
  calls is read from the database at scrape time (the database is the one truth all
  workers share), from grouped counts over indexed columns and from small running totals
  (stage durations, folded from the ledger by the monitoring loop; agent calls, added to
  as each is recorded), so its cost does not grow with history. Any API replica answers
  the same figures.
- HTTP requests, and the in-process caches' hits and misses, are counted by the process
  that served them, as every Prometheus client does: each replica is its own scrape target
  and Prometheus sums them by ``instance``.

Each app has its own registry, so several apps in one process (tests) never collide. Labels
stay low-cardinality: a status, a type, a route template, never an operation or alert id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triadops.api.maintenance_metrics import TaskFigure, task_families, task_figures
from triadops.constitution.crown.service import is_frozen
from triadops.domain.alerts import ACTIVE_STATES, Severity
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.ops.caches import CACHES
from triadops.ops.health.api_errors import RequestCounts
from triadops.ops.stages import STEP_OUTCOMES
from triadops.storage import agent_calls
from triadops.storage import metrics as store
from triadops.storage.backups import last_successes
from triadops.storage.ledger import head
from triadops.storage.stages import BUCKETS, StageTotal, read_totals

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FINISHED_DELIVERIES = ("sent", "failed")
"""Delivery statuses that never change again: counted."""
PENDING_DELIVERY = "pending"
"""The status of a delivery still to send: a gauge."""
UNMATCHED = "<unmatched>"
"""The route label of a request no route matched, so scanners cannot mint label values."""


@dataclass(frozen=True, slots=True)
class AgentTotal:
    """One agent's running totals on one model with one outcome (``ok`` or ``failed``)."""

    agent: str
    model: str
    outcome: str
    calls: int
    input_tokens: int
    output_tokens: int
    latency_s: float


@dataclass
class Snapshot:
    """What one scrape read from the database."""

    operations: dict[tuple[str, str], int] = field(default_factory=dict)
    stages: list[StageTotal] = field(default_factory=list)
    ledger_entries: int = 0
    frozen: bool = False
    health: dict[str, Any] | None = None
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    notifications: dict[tuple[str, str], int] = field(default_factory=dict)
    last_success: dict[str, float] = field(default_factory=dict)
    """Seconds since the epoch of each routine's last success, by task: backups
    (``backup_database``, ``recovery_test_database``); maintenance reports here when it lands."""
    agents: list[AgentTotal] = field(default_factory=list)
    backup_sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each task's last success (``backup_database``, ``recovery_test_database``)."""
    tasks: list[TaskFigure] = field(default_factory=list)


class StoredFigures(Collector):
    """Renders the last snapshot read from the database as metric families."""

    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the families are built from each scrape's snapshot."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield every family from the snapshot."""
        s = self.snapshot
        operations = GaugeMetricFamily(
            "triad_operations",
            "Operations currently in each lifecycle state, by type.",
            labels=["type", "status"],
        )
        # Every (type, state) gets a sample, so a state that empties reads 0, not absent.
        for kind in OperationType:
            for status in OperationStatus:
                n = s.operations.get((kind.value, status.value), 0)
                operations.add_metric([kind.value, status.value], n)
        yield operations

        durations = HistogramMetricFamily(
            "triad_stage_duration_seconds",
            "Time operations spent in each branch's stages (folded from the ledger).",
            labels=["branch"],
        )
        errors = CounterMetricFamily(
            "triad_stage_errors",
            "Stages that ended in failure (failed or in doubt), by branch.",
            labels=["branch"],
        )
        for branch in Authority:
            # Steps run inside the executive's stages: their time is already there.
            mine = [
                t for t in s.stages if t.branch == branch.value and t.outcome not in STEP_OUTCOMES
            ]
            count = sum(t.count for t in mine)
            cumulative = [sum(t.buckets[i] for t in mine) for i in range(len(BUCKETS))]
            buckets = [(_bound(b), float(n)) for b, n in zip(BUCKETS, cumulative, strict=True)]
            buckets.append(("+Inf", float(count)))
            durations.add_metric(
                [branch.value], buckets=buckets, sum_value=sum(t.sum_s for t in mine)
            )
            errors.add_metric([branch.value], sum(t.count for t in mine if t.outcome == "error"))
        yield durations
        yield errors

        yield CounterMetricFamily(
            "triad_ledger_entries", "Entries in the crown's ledger.", value=s.ledger_entries
        )
        yield GaugeMetricFamily(
            "triad_frozen", "1 while the crown holds all forward work.", value=int(s.frozen)
        )
        yield from _health_families(s.health)

        alerts = GaugeMetricFamily(
            "triad_alerts",
            "Alerts not yet resolved, by severity and state (firing, acknowledged, silenced).",
            labels=["severity", "state"],
        )
        for severity in Severity:
            for state in sorted(ACTIVE_STATES):
                n = s.alerts.get((severity.value, state.value), 0)
                alerts.add_metric([severity.value, state.value], n)
        yield alerts

        yield from _notification_families(s.notifications)
        if s.last_success:
            last = GaugeMetricFamily(
                "triad_last_success_timestamp_seconds",
                "When each routine task (backups, maintenance) last succeeded.",
                labels=["task"],
            )
            for task, at in sorted(s.last_success.items()):
                last.add_metric([task], at)
            yield last
        yield from _size_families(s.backup_sizes)
        yield from _agent_families(s.agents)
        yield from task_families(s.tasks)


def _size_families(sizes: dict[str, int]) -> Iterator[Metric]:
    if sizes:
        family = GaugeMetricFamily(
            "triad_last_success_size_bytes",
            "Bytes of the backup that each backup task or recovery test last succeeded on.",
            labels=["task"],
        )
        for task, size in sorted(sizes.items()):
            family.add_metric([task], size)
        yield family


def _bound(seconds: float) -> str:
    return repr(float(seconds))


def _notification_families(counts: dict[tuple[str, str], int]) -> Iterator[Metric]:
    """Deliveries done (a counter: rows are never deleted) apart from those waiting (a gauge).

    A delivery moves from pending to sent or failed, so a count of pending ones goes down:
    as a counter Prometheus would read each drop as a reset and invent increases.
    """
    channels = sorted({channel for channel, _ in counts})
    done = CounterMetricFamily(
        "triad_notifications",
        "Notification deliveries finished, by channel and outcome (sent, failed).",
        labels=["channel", "status"],
    )
    pending = GaugeMetricFamily(
        "triad_notifications_pending",
        "Notification deliveries waiting to be sent (queued or retrying), by channel.",
        labels=["channel"],
    )
    for channel in channels:
        for status in FINISHED_DELIVERIES:
            done.add_metric([channel, status], counts.get((channel, status), 0))
        pending.add_metric([channel], counts.get((channel, PENDING_DELIVERY), 0))
    if channels:
        yield done
        yield pending


def _health_families(report: dict[str, Any] | None) -> Iterator[Metric]:
    """The newest report's scores and time; nothing before the first report is stored."""
    if report is None:
        return
    score = GaugeMetricFamily(
        "triad_health_score",
        "Share of each component's health checks passed in the newest report (0 to 1).",
        labels=["component"],
    )
    score.add_metric(["overall"], float(report.get("score", 0.0)))
    for component in report.get("components", []):
        score.add_metric([str(component["name"])], float(component["score"]))
    yield score
    at = report.get("checked_at")
    if isinstance(at, str):
        checked = GaugeMetricFamily(
            "triad_health_checked_timestamp_seconds", "When the newest health report was taken."
        )
        checked.add_metric([], datetime.fromisoformat(at).timestamp())
        yield checked


def _agent_families(totals: list[AgentTotal]) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "triad_agent_calls",
        "Calls to the agents' models, by agent, model and outcome (ok, failed).",
        labels=["agent", "model", "outcome"],
    )
    tokens = CounterMetricFamily(
        "triad_agent_tokens",
        "Tokens the agents' calls used, by agent, model and kind (input, output).",
        labels=["agent", "model", "kind"],
    )
    latency = CounterMetricFamily(
        "triad_agent_latency_seconds",
        "Time the agents' calls took, summed, by agent and model.",
        labels=["agent", "model"],
    )
    # Tokens and time are summed over outcomes: a failed call costs too.
    by_model: dict[tuple[str, str], list[AgentTotal]] = {}
    for total in sorted(totals, key=lambda t: (t.agent, t.model, t.outcome)):
        calls.add_metric([total.agent, total.model, total.outcome], total.calls)
        by_model.setdefault((total.agent, total.model), []).append(total)
    for (agent, model), mine in by_model.items():
        tokens.add_metric([agent, model, "input"], sum(t.input_tokens for t in mine))
        tokens.add_metric([agent, model, "output"], sum(t.output_tokens for t in mine))
        latency.add_metric([agent, model], sum(t.latency_s for t in mine))
    yield calls
    yield tokens
    yield latency


class CacheFigures(Collector):
    """The in-process caches of this process: hits, misses and entries, by cache name."""

    def collect(self) -> Iterator[Metric]:
        """Yield the three families from the registered caches' counters."""
        hits = CounterMetricFamily(
            "triad_cache_hits", "Lookups this process's cache answered.", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "triad_cache_misses", "Lookups this process's cache had to compute.", labels=["cache"]
        )
        entries = GaugeMetricFamily(
            "triad_cache_entries", "Entries this process's cache holds now.", labels=["cache"]
        )
        for name, cache in sorted(CACHES.items()):
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
            entries.add_metric([name], len(cache))
        yield hits
        yield misses
        yield entries


class PipelineMetrics:
    """The registry one app exposes at ``/metrics``: stored figures plus its own HTTP counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stored = StoredFigures()
        self.registry.register(self.stored)
        self.registry.register(CacheFigures())
        self.http_requests = Counter(
            "triad_http_requests",
            "HTTP requests this process answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "triad_http_request_duration_seconds",
            "Time this process took to answer, by route template.",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self._scraping = asyncio.Lock()

    async def scrape(self, session: AsyncSession) -> bytes:
        """Read the stored figures and render the text exposition."""
        backups = await last_successes(session)
        snapshot = Snapshot(
            last_success={task: at.timestamp() for task, (at, _) in backups.items()},
            backup_sizes={task: size for task, (_, size) in backups.items()},
            operations=await store.operations_by_type_and_status(session),
            stages=await read_totals(session),
            # The head's seq is the number of links: numbered from 1 without gaps (the
            # audit walk checks it); reading it costs one row however long the chain grows.
            ledger_entries=(await head(session))[0],
            frozen=await is_frozen(session),
            health=await store.latest_health_report(session),
            alerts=await store.alerts_by_severity(session, [s.value for s in ACTIVE_STATES]),
            notifications=await store.notifications_by_channel(session),
            agents=[
                AgentTotal(
                    agent=row.agent,
                    model=row.model,
                    outcome=row.outcome,
                    calls=row.calls,
                    input_tokens=row.input_tokens,
                    output_tokens=row.output_tokens,
                    latency_s=row.latency_s,
                )
                for row in await agent_calls.totals(session)
            ],
        )
        snapshot.tasks, done = await task_figures(session)
        snapshot.last_success.update(done)
        async with self._scraping:  # one snapshot rendered at a time
            self.stored.snapshot = snapshot
            return generate_latest(self.registry)


class RequestMetrics:
    """Count each HTTP request by its route template, method and status, and time it."""

    def __init__(
        self, app: ASGIApp, *, metrics: PipelineMetrics, counts: RequestCounts | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.http_requests.labels(template, scope["method"], str(status)).inc()
            self.metrics.http_duration.labels(template).observe(time.perf_counter() - started)
            if self.counts is not None:
                self.counts.count(status)
