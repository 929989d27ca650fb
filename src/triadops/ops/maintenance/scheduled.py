"""What the monitoring leader runs for maintenance: usage counts, and the routine task scheduler.

Every ``usage.every_s`` it counts operations into usage (`record_usage`). Every
``maintenance.every_s`` it runs the routine task scheduler (`TaskScheduler`).

One pass: add a row for each task first seen (its first due time after now); read back the
results of runs whose operations ended (a failure raises an alert; ``max_failures`` in a row
hold the task); then submit the due runs. Which tasks are due is one range of the
``next_due`` index. Each run is reviewed in a read session, before any write, and stored
with its claim in one short write transaction: the claim moves ``next_due`` by
compare-and-set, so of two schedulers (two leaders for a moment, or any two processes) one
stores the run and the other finds the task moved on. Only the leader runs it, but nothing
here depends on that. Misses and failures raise alerts from the source ``maintenance``, one
per task (the labels name the task, so a repeat counts on the open alert).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import lifecycle
from triadops.constitution.legislative.review import Reviewed
from triadops.constitution.legislative.service import review_request, store_reviewed
from triadops.constitution.powers import Powers
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.enums import OperationStatus, Role
from triadops.domain.errors import TriadError
from triadops.domain.identity import Identity
from triadops.domain.principals import SCHEDULER
from triadops.ops.alerts import service as alerts
from triadops.ops.maintenance import service
from triadops.ops.maintenance.runs import run_id, run_request
from triadops.ops.maintenance.schedule import Due, next_due, settle
from triadops.settings.tasks import TaskSpec
from triadops.storage import maintenance_tasks as store
from triadops.storage import usage
from triadops.storage.tables import MaintenanceTaskRow

log = structlog.stdlib.get_logger(__name__)

SOURCE = "maintenance"
"""The alerts' source: the scheduler raises them, and only it resolves them."""
SCHEDULER_IDENTITY = Identity(name=SCHEDULER, roles=frozenset({Role.EXECUTIVE, Role.LEGISLATIVE}))
"""Who requests the scheduled runs: ``triad:scheduler``, a system actor no person can be."""
BATCH = 100
"""At most this many due tasks are submitted in one pass (the rest in the next)."""
PARKED = timedelta(days=30)
"""How far a due task that left the table (or was disabled) is moved on without a run."""


FIRST_LOOK = timedelta(days=1)
"""How far back the first count reaches when no operation bucket is recorded yet."""


async def record_usage(powers: Powers, *, now: datetime) -> int:
    """Recount operations submitted since the newest operations bucket; prune old buckets.

    Only the leader runs it, so the operations' buckets are set, not added: a pass run
    twice leaves the same figures. The API's buckets are added by each API process as it
    writes its access record (``storage.access``). Returns the buckets written.
    """
    keep = timedelta(days=powers.settings.usage.keep_days)
    async with powers.reading() as session:
        latest = await usage.latest_bucket(session, usage.OPERATIONS)
        since = latest if latest is not None else now - FIRST_LOOK
        counts = usage.counts_by_bucket(await usage.submitted_since(session, since))
    async with powers.sessions() as session:
        await usage.set_counts(session, usage.OPERATIONS, counts)
        await usage.prune(session, before=now - keep)
        await lifecycle.commit(session)
    return len(counts)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one due task will get, decided and reviewed before the write transaction."""

    task: str
    due: datetime
    next_due: datetime
    reviewed: list[Reviewed] = field(default_factory=list)
    occurrences: list[datetime | None] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    missed_count: int = 0
    policy: str = "once"
    problem: str | None = None
    """Why no run could be submitted (the review refused it)."""


@dataclass
class SchedulerPass:
    """What one pass did (for tests, logs and the monitor's tick)."""

    seeded: int = 0
    submitted: list[str] = field(default_factory=list)
    """The operation ids of the runs stored."""
    lost: int = 0
    """Due runs another scheduler claimed first."""
    missed: dict[str, int] = field(default_factory=dict)
    ended: list[service.RunEnded] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


class TaskScheduler:
    """The routine task scheduler of one process; `run` is one idempotent pass."""

    def __init__(self, powers: Powers) -> None:
        self.powers = powers
        self.table = {spec.name: spec for spec in powers.settings.task_table()}
        self._seeded = False

    async def run(self, *, now: datetime) -> SchedulerPass:
        """Seed new tasks (once a process), read ended runs back, submit due runs, alert."""
        result = SchedulerPass()
        if not self._seeded:
            result.seeded = await self.seed(now=now)
            self._seeded = True
        result.ended = await self.read_back(now=now)
        for plan in await self.plan_due(now=now):
            await self.store(plan, now=now, into=result)
        await self.raise_alerts(result, now=now)
        return result

    async def seed(self, *, now: datetime) -> int:
        """Add a row for every task in the table that has none; return how many."""
        async with self.powers.reading() as reading:
            known = await store.task_names(reading)
        windows = self.powers.settings.maintenance_windows
        new = [
            (spec.name, next_due(spec, windows, now))
            for spec in self.table.values()
            if spec.name not in known
        ]
        if new:
            async with self.powers.sessions() as session:
                await store.add_tasks(session, new, now=now)
                await session.commit()
        return len(new)

    async def read_back(self, *, now: datetime) -> list[service.RunEnded]:
        """Record the result of every task's last run whose operation has ended."""
        async with self.powers.reading() as reading:
            if not await store.ended_runs(reading, limit=1):
                return []
        ended: list[service.RunEnded] = []
        async with self.powers.sessions() as session:
            for row, status in await store.ended_runs(session):
                done = await service.settle_run(
                    session,
                    row=row,
                    spec=self.table.get(row.name),
                    status=OperationStatus(status),
                    now=now,
                )
                if done is not None:
                    ended.append(done)
            await lifecycle.commit(session)
        return ended

    async def plan_due(self, *, now: datetime) -> list[Plan]:
        """Decide and review every due task's runs in one read session; write nothing."""
        async with self.powers.reading() as reading:
            rows = await store.due_tasks(reading, now=now, limit=BATCH)
            return [await self._plan(reading, row, now=now) for row in rows]

    async def _plan(self, reading: AsyncSession, row: MaintenanceTaskRow, *, now: datetime) -> Plan:
        spec = self.table.get(row.name)
        if spec is None or not spec.enabled:
            return Plan(row.name, row.next_due, now + PARKED)
        decided = settle(spec, self.powers.settings, due=row.next_due, now=now)
        if decided.runs and row.last_result == store.PENDING:
            # One run at a time: the occurrence goes by while the last run is still going.
            missed = decided.missed or [row.next_due]
            return Plan(
                row.name,
                row.next_due,
                decided.next_due,
                missed=missed,
                missed_count=max(decided.missed_total, 1),
                policy="previous run still going",
            )
        return await self._review(reading, spec, decided)

    async def _review(self, reading: AsyncSession, spec: TaskSpec, decided: Due) -> Plan:
        plan = Plan(
            spec.name,
            decided.occurrence,
            decided.next_due,
            missed=decided.missed,
            missed_count=decided.missed_total,
            policy=spec.catch_up,
        )
        why = "on schedule" if not decided.missed else f"catch-up ({spec.catch_up})"
        try:
            for index, when in enumerate(decided.runs):
                request = run_request(
                    spec,
                    self.powers.procedures,
                    requester=SCHEDULER_IDENTITY,
                    operation_id=run_id(spec.name, decided.occurrence, index),
                    scheduled_time=when,
                    in_window=True,
                    why=why,
                )
                plan.reviewed.append(
                    await review_request(
                        reading, self.powers, request=request, requester=SCHEDULER_IDENTITY
                    )
                )
                plan.occurrences.append(decided.occurrence)
        except TriadError as exc:
            return Plan(
                spec.name,
                decided.occurrence,
                decided.next_due,
                missed=decided.missed,
                missed_count=decided.missed_total,
                policy=spec.catch_up,
                problem=exc.message,
            )
        return plan

    async def store(self, plan: Plan, *, now: datetime, into: SchedulerPass) -> None:
        """Claim the task's due time and store its runs, in one short write transaction."""
        last = plan.reviewed[-1].request.operation_id if plan.reviewed else None
        async with self.powers.sessions() as session:
            total = await store.claim_run(
                session,
                name=plan.task,
                due=plan.due,
                next_due=plan.next_due,
                operation_id=last,
                missed=plan.missed_count,
                now=now,
            )
            if total is None:
                await session.rollback()
                into.lost += 1
                return
            for reviewed, occurrence in zip(plan.reviewed, plan.occurrences, strict=True):
                store_reviewed(session, self.powers, reviewed)
                service.record_run(
                    session,
                    task=plan.task,
                    operation_id=reviewed.request.operation_id,
                    occurrence=occurrence,
                    next_due=plan.next_due,
                    actor=SCHEDULER,
                    now=now,
                )
            if plan.missed:
                service.record_missed(
                    session,
                    task=plan.task,
                    missed=plan.missed,
                    count=plan.missed_count,
                    policy=plan.policy,
                    missed_total=total,
                    now=now,
                )
            try:
                await lifecycle.commit(session)
            except IntegrityError:  # the run's id is taken: another scheduler stored it
                await session.rollback()
                into.lost += 1
                return
        into.submitted += [r.request.operation_id for r in plan.reviewed]
        if plan.missed:
            into.missed[plan.task] = plan.missed_count
        if plan.problem is not None:
            into.refused[plan.task] = plan.problem
            log.warning("maintenance task refused", task=plan.task, problem=plan.problem)

    async def raise_alerts(self, result: SchedulerPass, *, now: datetime) -> None:
        """Raise one alert per task that missed runs, failed, was held or was refused.

        A run that completes resolves its task's failure and hold alerts (a resolution of an
        alert that is not open is ignored).
        """
        raised = [
            _alert("MaintenanceTaskMissed", task, Severity.WARNING, f"{task} missed {n} run(s)")
            for task, n in result.missed.items()
        ]
        for ended in result.ended:
            if ended.result == OperationStatus.COMPLETED.value:  # it works again: all clear
                raised += [
                    _alert(name, ended.task, Severity.WARNING, f"{ended.task} ran", resolved=True)
                    for name in ("MaintenanceTaskFailed", "MaintenanceTaskHeld")
                ]
            if ended.failed:
                raised.append(
                    _alert(
                        "MaintenanceTaskFailed",
                        ended.task,
                        Severity.WARNING,
                        f"{ended.task}: run {ended.operation_id} ended {ended.result} "
                        f"({ended.failures} failed in a row)",
                    )
                )
            if ended.newly_held:
                raised.append(
                    _alert(
                        "MaintenanceTaskHeld",
                        ended.task,
                        Severity.CRITICAL,
                        f"{ended.task} is held after {ended.failures} failed runs in a row: "
                        f"triad maintain resume {ended.task} once it is looked at",
                    )
                )
        raised += [
            _alert("MaintenanceTaskRefused", task, Severity.WARNING, f"{task}: {why}")
            for task, why in result.refused.items()
        ]
        if not raised:
            return
        async with self.powers.sessions() as session:
            await alerts.ingest(
                session,
                raised,
                source=SOURCE,
                now=now,
                settings=self.powers.settings.alerts,
                by=SCHEDULER,
            )
            await lifecycle.commit(session)


def _alert(
    name: str, task: str, severity: Severity, summary: str, *, resolved: bool = False
) -> AlertIn:
    return AlertIn(
        labels={"alertname": name, "task": task, "source": SOURCE},
        annotations={"summary": summary[:2000]},
        severity=severity,
        status="resolved" if resolved else "firing",
    )
