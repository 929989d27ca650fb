"""The monitoring loop: one leader among workers, health checks that raise and resolve alerts,
heartbeats, and change-linked silences that outlive their operation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import select

from tests.fixtures.api import drive
from tests.fixtures.pipeline import request, submit
from triadops.constitution import lifecycle
from triadops.constitution.powers import Powers
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import FakeClock
from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops import health
from triadops.ops.alerts import events, service
from triadops.ops.health.collectors import Collector, Reading
from triadops.ops.health.host import CpuSampler, HostCollector
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.settings import AlertTiming, AlertTimings, Settings
from triadops.storage import change_silences
from triadops.storage.tables import AlertRow, HealthReportRow, SilenceRow, WorkerRow

T = TypeVar("T")


class Switch(Collector):
    """A collector whose one check passes or fails as the test says."""

    name = "switch"

    def __init__(self) -> None:
        self.failing = False

    def planned(self) -> list[HealthCheck]:
        return [
            HealthCheck(
                name="switch.on",
                component="targets",
                status=CheckStatus.UNKNOWN,
                system="svc",
                alertname="TargetDown",
            )
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        status = CheckStatus.FAIL if self.failing else CheckStatus.PASS
        return [c.model_copy(update={"status": status}) for c in self.planned()]


@pytest.fixture
async def second(settings: Settings) -> AsyncIterator[Runtime]:
    """Another process's runtime over the same database: its own engine and connections."""
    rt = await Runtime.open(settings, migrate=False)
    try:
        yield rt
    finally:
        await rt.close()


async def open_change_silence(
    rt: Runtime, operation_id: str, matcher: dict[str, str], *, now: datetime, last_s: float
) -> None:
    """Open a change-linked silence as the commit that starts an operation would."""
    async with rt.session() as session:
        change_silences.open_silence(
            session,
            operation_id=operation_id,
            matchers=[matcher],
            by="alice",
            now=now,
            last_s=last_s,
        )
        await session.commit()


async def rows(rt: Runtime, table: type[T]) -> list[T]:
    async with rt.session(read_only=True) as session:
        return list((await session.scalars(select(table))).all())


async def test_one_leader_and_a_takeover_within_one_interval(
    runtime: Runtime, second: Runtime
) -> None:
    clock = FakeClock()
    first = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[Switch()])
    other = Monitor(second.powers, owner="w2", clock=clock.now, collectors=[Switch()])
    a, b = await first.tick(), await other.tick()
    assert (a.leader, b.leader) == (True, False)
    assert a.report is not None and b.report is None
    assert (a.beat, b.beat) == (True, True)

    # w1 dies: it never ticks again. w2 takes over once the lease runs out, within one
    # health interval, and runs the health check itself.
    interval = runtime.settings.health.every_s
    clock.advance(first.lease_s / 2)
    assert not (await other.tick()).leader
    clock.advance(first.lease_s / 2 + 0.001)
    taken = await other.tick()
    assert taken.leader and taken.report is not None
    assert first.lease_s <= interval
    assert len(await rows(runtime, HealthReportRow)) == 2
    # Both beat; availability is read from these rows. w2's long silence between its
    # beats (it was not leading, and the test did not tick it) stays visible as a gap.
    beats = await rows(runtime, WorkerRow)
    assert {w.name.split("@")[0] for w in beats} == {"w1", "w2"}
    assert len([w for w in beats if w.name.startswith("w2")]) == 2


async def test_a_clean_stop_hands_the_lease_over_at_once(runtime: Runtime, second: Runtime) -> None:
    clock = FakeClock()
    first = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[Switch()])
    other = Monitor(second.powers, owner="w2", clock=clock.now, collectors=[Switch()])
    assert (await first.tick()).leader
    stop = asyncio.Event()
    stop.set()
    await first.run(stop)  # one tick, then the clean stop releases the lease
    clock.advance(0.001)
    assert (await other.tick()).leader
    [w1] = [w for w in await rows(runtime, WorkerRow) if w.name == "w1"]
    assert w1.stopped_at is not None


def timed(rt: Runtime, *, for_s: float, clear_s: float) -> Powers:
    """`rt`'s powers with every health alert timed `for_s` and `clear_s`."""
    timing = AlertTiming(for_s=for_s, clear_s=clear_s)
    timings = AlertTimings(**dict.fromkeys(AlertTimings.model_fields, timing))
    health = rt.settings.health.model_copy(update={"timing": timings})
    return dataclasses.replace(
        rt, settings=rt.settings.model_copy(update={"health": health})
    ).powers


async def test_health_raises_an_alert_and_resolves_it_when_it_clears(runtime: Runtime) -> None:
    clock = FakeClock()
    switch = Switch()
    powers = timed(runtime, for_s=0, clear_s=0)
    monitor = Monitor(powers, owner="w1", clock=clock.now, collectors=[switch])
    switch.failing = True
    await monitor.tick()
    firing = [a for a in await rows(runtime, AlertRow) if a.alertname == "TargetDown"]
    assert [(a.state, a.labels["system"], a.source) for a in firing] == [
        ("firing", "svc", "health")
    ]

    # Still failing at the next check: the same alert, counted again, not a new one.
    clock.advance(runtime.settings.health.every_s)
    await monitor.tick()
    [again] = [a for a in await rows(runtime, AlertRow) if a.alertname == "TargetDown"]
    assert (again.id, again.count) == (firing[0].id, 2)

    switch.failing = False
    clock.advance(runtime.settings.health.every_s)
    await monitor.tick()
    [cleared] = [a for a in await rows(runtime, AlertRow) if a.alertname == "TargetDown"]
    assert cleared.state == "resolved" and cleared.resolved_by == events.MONITOR


class ScriptedCpu(CpuSampler):
    """The host's CPU as the test says, one figure per reading (psutil's seam)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = 0.0

    def percent(self) -> float:
        return self.busy


def host(rt: Runtime) -> tuple[HostCollector, ScriptedCpu]:
    """The real host collector, its CPU figure scripted."""
    collector = HostCollector(
        data_dir=rt.settings.home, disk_paths=[], thresholds=rt.settings.health.thresholds
    )
    collector.cpu = cpu = ScriptedCpu()
    return collector, cpu


async def cpu_alerts(rt: Runtime) -> list[AlertRow]:
    return [a for a in await rows(rt, AlertRow) if a.alertname == "HostCpuHigh"]


async def test_a_flapping_cpu_stays_one_alert(runtime: Runtime) -> None:
    """A busy 2-core machine: 95 % and 20 % in turn, for 13 minutes after it first fired."""
    timing = runtime.settings.health.timing.cpu_percent
    every = runtime.settings.health.every_s
    assert (timing.for_s, timing.clear_s, every) == (300, 300, 60)
    clock = FakeClock()
    collector, cpu = host(runtime)
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[collector])

    async def check(busy: float) -> None:
        cpu.busy = busy
        assert (await monitor.tick()).report is not None
        clock.advance(every)

    for _ in range(5):  # 0 s to 240 s: pending, not yet held for 300 s
        await check(95)
        assert await cpu_alerts(runtime) == []
    await check(95)  # 300 s: it fires
    [fired] = await cpu_alerts(runtime)
    for busy in [20, 95, 20, 20, 95, 20, 95, 20, 20, 20, 95, 20, 95]:
        await check(busy)
        [alert] = await cpu_alerts(runtime)
        assert (alert.id, alert.state) == (fired.id, "firing")
    # Clear for 300 s: checks at 0, 60, ... 240 s after it cleared keep it open; 300 s ends it.
    for _ in range(5):
        await check(20)
        assert [a.state for a in await cpu_alerts(runtime)] == ["firing"]
    await check(20)
    [ended] = await cpu_alerts(runtime)
    assert (ended.id, ended.state) == (fired.id, "resolved")


async def test_a_spike_shorter_than_for_opens_no_alert(runtime: Runtime) -> None:
    clock = FakeClock()
    collector, cpu = host(runtime)
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[collector])
    for busy in [99, 99, 99, 99, 10, 99, 10, 10]:  # 4 minutes high, then blips
        cpu.busy = busy
        report = (await monitor.tick()).report
        assert report is not None
        if busy > 80:
            assert [a.alertname for a in report.pending if a.alertname == "HostCpuHigh"]
        clock.advance(runtime.settings.health.every_s)
    assert await cpu_alerts(runtime) == []
    # The stored report says what is pending, not what fired.
    async with runtime.session(read_only=True) as session:
        newest = await health.latest(session)
    assert newest is not None
    assert "HostCpuHigh" not in {a.alertname for a in newest.alerts + newest.pending}


async def test_an_open_alert_without_a_track_is_not_resolved_while_it_holds(
    runtime: Runtime,
) -> None:
    """An alert a version without hysteresis raised: its condition holding keeps it open."""
    clock = FakeClock()
    collector, cpu = host(runtime)
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[collector])
    cpu.busy = 99
    first = await monitor.check(clock.now())
    [condition] = [a for a in first.pending if a.alertname == "HostCpuHigh"]
    async with runtime.session() as session:
        await service.ingest(
            session,
            [
                AlertIn(
                    labels={**condition.labels, "source": "health"},
                    severity=condition.severity,
                )
            ],
            source="health",
            now=clock.now(),
            settings=runtime.settings.alerts,
        )
        await lifecycle.commit(session)
    for _ in range(6):
        clock.advance(runtime.settings.health.every_s)
        await monitor.check(clock.now())
        assert [a.state for a in await cpu_alerts(runtime)] == ["firing"]


async def test_a_new_leader_continues_what_the_last_one_saw(
    runtime: Runtime, second: Runtime
) -> None:
    clock = FakeClock()
    first_host, first_cpu = host(runtime)
    other_host, other_cpu = host(second)
    first = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[first_host])
    other = Monitor(second.powers, owner="w2", clock=clock.now, collectors=[other_host])
    first_cpu.busy = other_cpu.busy = 97
    started = clock.now()
    for _ in range(3):  # w1 sees 0, 60 and 120 s of a busy CPU, then dies
        assert (await first.tick()).report is not None
        clock.advance(60)
    assert first.lease_until is not None
    clock.advance((first.lease_until - clock.now()).total_seconds() + 0.001)
    taken = await other.tick()  # w2 leads once w1's lease has run out
    assert taken.report is not None and await cpu_alerts(runtime) == []
    clock.advance(300 - (clock.now() - started).total_seconds())
    assert (await other.tick()).report is not None
    # Held for 300 s across two leaders: one alert, fired by the new one.
    assert [a.state for a in await cpu_alerts(runtime)] == ["firing"]


async def test_a_silence_that_outlives_its_operation_is_closed_and_reported(
    runtime: Runtime,
) -> None:
    req = request()
    await submit(runtime, req)
    await drive(runtime)  # completed: nothing is left to cover
    clock = FakeClock()
    await open_change_silence(
        runtime,
        req.operation_id,
        {"name": "system", "op": "=", "value": "db"},
        now=clock.now(),
        last_s=3600,
    )
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[Switch()])
    clock.advance(1)
    result = await monitor.tick()
    [silence] = await rows(runtime, SilenceRow)
    assert result.closed_silences == [silence.id]
    assert silence.ends_at <= clock.now()
    reported = [a for a in await rows(runtime, AlertRow) if a.alertname != "TargetDown"]
    assert [(a.alertname, a.labels["operation_id"]) for a in reported] == [
        ("ChangeSilenceOutlivedOperation", req.operation_id)
    ]


async def test_a_change_silence_never_outlasts_the_cap(runtime: Runtime) -> None:
    req = request([("noop", {})], affected_systems=["db"])
    # Held in approval: never runs, so its operation never ends the silence.
    clock = FakeClock()
    await submit(runtime, req)
    await open_change_silence(
        runtime,
        req.operation_id,
        {"name": "system", "op": "=", "value": "db"},
        now=clock.now() - timedelta(days=1),
        last_s=48 * 3600,
    )
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[Switch()])
    assert len((await monitor.tick()).closed_silences) == 1


async def test_an_alert_already_firing_is_muted_by_a_change_that_starts(runtime: Runtime) -> None:
    clock = FakeClock()
    async with runtime.session() as session:
        await service.ingest(
            session,
            [
                AlertIn(labels={"alertname": "Slow", "system": "db"}),
                AlertIn(labels={"alertname": "Slow", "system": "api"}),
            ],
            source="api",
            now=clock.now(),
            settings=runtime.settings.alerts,
        )
        await lifecycle.commit(session)
    req = request([("noop", {})], affected_systems=["db"])
    await submit(runtime, req)  # approved and waiting: its change is not over
    await open_change_silence(
        runtime,
        req.operation_id,
        {"name": "system", "op": "=~", "value": "(db)"},
        now=clock.now(),
        last_s=3600,
    )
    monitor = Monitor(runtime.powers, owner="w1", clock=clock.now, collectors=[Switch()])
    clock.advance(1)
    await monitor.tick()
    states = {a.labels["system"]: a.state for a in await rows(runtime, AlertRow)}
    assert states == {"db": "silenced", "api": "firing"}
