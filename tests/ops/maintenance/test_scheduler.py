"""The routine task scheduler over a real database: due runs become operations once,
downtime is caught up once with every miss recorded, failures alert and then hold.

Both databases unless said; an injected clock, never a sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.fixtures.api import drive
from tests.fixtures.tasks import task, with_tasks
from triadops.constitution.crown import audit
from triadops.domain.clock import FakeClock, using
from triadops.domain.principals import SCHEDULER
from triadops.ops.maintenance.scheduled import TaskScheduler
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import leases
from triadops.storage.tables import AlertRow, LedgerRow, MaintenanceTaskRow, OperationRow, StepRow

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # a Monday, outside every default window


@pytest.fixture
def clock() -> AsyncIterator[FakeClock]:  # type: ignore[misc]
    with using(FakeClock(START)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


async def open_with(settings: Settings) -> Runtime:
    return await Runtime.open(settings, migrate=False)


async def count(rt: Runtime, what: object, *where: object) -> int:
    async with rt.session(read_only=True) as session:
        found = await session.scalar(select(func.count()).select_from(what).where(*where))  # type: ignore[arg-type]
        return int(found or 0)


async def row(rt: Runtime, name: str = "drill") -> MaintenanceTaskRow:
    async with rt.session(read_only=True) as session:
        found = await session.get(MaintenanceTaskRow, name)
        assert found is not None
        return found


async def test_a_due_task_becomes_one_operation_requested_by_the_scheduler(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await open_with(with_tasks(settings, task()))
    try:
        scheduler = TaskScheduler(rt.powers)
        first = await scheduler.run(now=clock.now())
        assert first.seeded == 1 and first.submitted == []
        assert (await row(rt)).next_due == datetime(2026, 12, 7, 10, tzinfo=UTC)

        clock.advance(31 * 60)  # 10:01
        done = await scheduler.run(now=clock.now())
        assert done.submitted == ["mt-drill-20261207T1000Z"]
        assert done.missed == {}
        async with rt.session(read_only=True) as session:
            op = await session.get(OperationRow, "mt-drill-20261207T1000Z")
            assert op is not None and op.requested_by == SCHEDULER and op.procedure == "drill"
        stored = await row(rt)
        assert stored.last_operation_id == "mt-drill-20261207T1000Z"
        assert stored.last_result == "pending"
        assert stored.next_due == datetime(2026, 12, 7, 11, tzinfo=UTC)

        again = await scheduler.run(now=clock.now())  # the same tick again: nothing new
        assert again.submitted == []
        await drive(rt)
        settled = await scheduler.run(now=clock.now())
        assert [(e.task, e.result) for e in settled.ended] == [("drill", "completed")]
        assert (await row(rt)).last_result == "completed"
    finally:
        await rt.close()


async def test_after_downtime_a_task_runs_once_and_every_miss_is_recorded_and_alerted_once(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await open_with(with_tasks(settings, task()))
    try:
        await TaskScheduler(rt.powers).run(now=clock.now())  # due at 10:00
        clock.advance(5 * 3600 + 10 * 60)  # down until 14:40: 10:00 to 14:00 went by
        restarted = TaskScheduler(rt.powers)  # a new process after the downtime
        done = await restarted.run(now=clock.now())
        assert len(done.submitted) == 1
        assert done.missed == {"drill": 5}
        stored = await row(rt)
        assert stored.missed_total == 5
        assert stored.next_due == datetime(2026, 12, 7, 15, tzinfo=UTC)
        missed = LedgerRow.event == "maintenance_task_missed"
        assert await count(rt, LedgerRow, missed) == 1
        name = AlertRow.alertname == "MaintenanceTaskMissed"
        assert await count(rt, AlertRow, name) == 1

        # A second downtime adds to the total, and repeats the one alert of the task.
        await drive(rt)
        clock.advance(3 * 3600)  # 17:40: 15:00, 16:00, 17:00 went by
        done = await restarted.run(now=clock.now())
        assert done.missed == {"drill": 3}
        assert (await row(rt)).missed_total == 8
        assert await count(rt, AlertRow, name) == 1
        assert await count(rt, OperationRow) == 2
    finally:
        await rt.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_schedulers_at_once_submit_each_due_run_exactly_once(
    settings: Settings, clock: FakeClock
) -> None:
    table = [task(f"t{i}", cron="*/5 * * * *") for i in range(8)]
    tasked = with_tasks(settings, *table)
    one, two = await open_with(tasked), await open_with(tasked)
    try:
        await TaskScheduler(one.powers).run(now=clock.now())
        for _ in range(3):
            clock.advance(5 * 60)
            a, b = await asyncio.gather(
                TaskScheduler(one.powers).run(now=clock.now()),
                TaskScheduler(two.powers).run(now=clock.now()),
            )
            assert len(a.submitted) + len(b.submitted) == 8
            assert not set(a.submitted) & set(b.submitted)
            await drive(one)
        assert await count(one, OperationRow) == 24
        runs = LedgerRow.event == "maintenance_task_run"
        assert await count(one, LedgerRow, runs) == 24
    finally:
        await one.close()
        await two.close()


async def test_a_failing_task_alerts_each_failure_and_is_held_at_max_failures(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await open_with(with_tasks(settings, task(params={"fail": True}, max_failures=2)))
    try:
        scheduler = TaskScheduler(rt.powers)
        await scheduler.run(now=clock.now())
        for attempt in (1, 2):
            clock.advance(3600)
            assert len((await scheduler.run(now=clock.now())).submitted) == 1
            await drive(rt)
            ended = (await scheduler.run(now=clock.now())).ended
            assert [(e.result, e.failures) for e in ended] == [("failed", attempt)]
        stored = await row(rt)
        assert stored.held and stored.consecutive_failures == 2
        failed = AlertRow.alertname == "MaintenanceTaskFailed"
        assert await count(rt, AlertRow, failed) == 1  # one alert for the task, repeated
        assert await count(rt, AlertRow, AlertRow.alertname == "MaintenanceTaskHeld") == 1

        clock.advance(3 * 3600)
        held = await scheduler.run(now=clock.now())
        assert held.submitted == []  # held: not submitted again until a person resumes it
        assert await count(rt, OperationRow) == 2
        async with rt.session(read_only=True) as session:
            report = await audit.verify(session)
        assert report.ok, report
    finally:
        await rt.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_pass_takes_no_write_lock_while_it_decides_and_reviews(
    settings: Settings, clock: FakeClock
) -> None:
    """SQLite has one writer: another process commits while the pass computes, or it fails."""
    tasked = with_tasks(settings, task())
    rt, other = await open_with(tasked), await open_with(tasked)
    committed: list[bool] = []

    class Watched(TaskScheduler):
        async def _plan(self, reading: Any, due: MaintenanceTaskRow, *, now: datetime) -> Any:
            async with other.session() as session:  # a writer elsewhere, mid-computation
                committed.append(
                    await leases.hold(session, name="elsewhere", holder="other", now=now, ttl_s=9)
                )
                await session.commit()
            return await super()._plan(reading, due, now=now)

    try:
        scheduler = Watched(rt.powers)
        await scheduler.run(now=clock.now())
        clock.advance(3600)
        done = await scheduler.run(now=clock.now())
        assert committed == [True]
        assert len(done.submitted) == 1
    finally:
        await rt.close()
        await other.close()


async def test_a_run_whose_step_skipped_its_work_reads_back_skipped_not_passed(
    settings: Settings, clock: FakeClock
) -> None:
    """A security audit that could audit nothing completes, but the task shows ``skipped``."""
    rt = await open_with(with_tasks(settings, task()))
    try:
        scheduler = TaskScheduler(rt.powers)
        await scheduler.run(now=clock.now())
        clock.advance(3600)
        (op_id,) = (await scheduler.run(now=clock.now())).submitted
        await drive(rt)
        async with rt.session() as session:  # as security.audit answers with no network
            step = await session.get(StepRow, (op_id, 0))
            assert step is not None
            step.output = {**step.output, "skipped": "no vulnerability service answered"}
            await session.commit()
        (ended,) = (await scheduler.run(now=clock.now())).ended
        assert (ended.status.value, ended.result, ended.failed) == ("completed", "skipped", False)
        stored = await row(rt)
        assert stored.last_result == "skipped" and stored.last_success_at is None
    finally:
        await rt.close()


async def test_a_run_that_completes_again_resolves_its_tasks_failure_alert(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await open_with(with_tasks(settings, task(params={"fail": True})))
    fixed = with_tasks(settings, task())  # the same task, once its cause is fixed
    try:
        await TaskScheduler(rt.powers).run(now=clock.now())
        clock.advance(3600)
        await TaskScheduler(rt.powers).run(now=clock.now())
        await drive(rt)
        await TaskScheduler(rt.powers).run(now=clock.now())
        failed = AlertRow.alertname == "MaintenanceTaskFailed"
        assert await count(rt, AlertRow, failed, AlertRow.resolved_at.is_(None)) == 1
        again = await open_with(fixed)
        try:
            clock.advance(3600)
            await TaskScheduler(again.powers).run(now=clock.now())
            await drive(again)
            await TaskScheduler(again.powers).run(now=clock.now())
        finally:
            await again.close()
        assert await count(rt, AlertRow, failed, AlertRow.resolved_at.is_(None)) == 0
    finally:
        await rt.close()


async def test_the_monitors_leader_runs_the_scheduler_on_its_own_cadence(
    settings: Settings, clock: FakeClock
) -> None:
    tasked = with_tasks(settings, task(), every_s=60, late_after_s=600)
    rt, other = await open_with(tasked), await open_with(tasked)
    try:
        leader = Monitor(rt.powers, owner="w1", clock=clock.now, collectors=[])
        follower = Monitor(other.powers, owner="w2", clock=clock.now, collectors=[])
        first = await leader.tick()
        assert first.leader and first.tasks is not None and first.tasks.seeded == 1
        assert (await follower.tick()).tasks is None  # not the leader: no pass
        clock.advance(30)
        assert (await leader.tick()).tasks is None  # within maintenance.every_s
        clock.advance(31 * 60)  # past 10:00
        due = await leader.tick()
        assert due.tasks is not None and due.tasks.submitted == ["mt-drill-20261207T1000Z"]
    finally:
        await rt.close()
        await other.close()


async def test_a_window_task_runs_at_its_windows_opening_and_needs_that_window(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await open_with(with_tasks(settings, task(cron=None, window="daily")))
    try:
        scheduler = TaskScheduler(rt.powers)
        await scheduler.run(now=clock.now())
        opening = datetime(2026, 12, 8, 2, tzinfo=UTC)  # the daily window, 02:00-03:00 UTC
        assert (await row(rt)).next_due == opening
        clock.advance((opening - clock.now()).total_seconds() + 20)
        (op_id,) = (await scheduler.run(now=clock.now())).submitted
        async with rt.session(read_only=True) as session:
            op = await session.get(OperationRow, op_id)
            assert op is not None
            assert op.request["window"] == "daily"
            assert op.scheduled_time == opening
        await drive(rt)
        assert [e.result for e in (await scheduler.run(now=clock.now())).ended] == ["completed"]
    finally:
        await rt.close()
