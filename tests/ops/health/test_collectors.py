"""Collectors run concurrently, each within its timeout: one that hangs or fails never stalls."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from triadops.domain.health import CheckStatus, HealthCheck, HealthStatus
from triadops.ops.health import (
    Collector,
    Reading,
    RequestCounts,
    check_health,
    default_collectors,
    run_collectors,
)
from triadops.ops.health.api_errors import ApiErrorsCollector
from triadops.ops.health.host import HostCollector
from triadops.runtime import Runtime
from triadops.settings import Thresholds

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Planned(Collector):
    """A collector of one check, whose `collect` the test decides."""

    def __init__(self, name: str) -> None:
        self.name = name

    def planned(self) -> list[HealthCheck]:
        return [
            HealthCheck(
                name=f"{self.name}.figure",
                component="drill",
                status=CheckStatus.UNKNOWN,
                threshold=1.0,
                system=self.name,
            )
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        (check,) = self.planned()
        return [check.model_copy(update={"status": CheckStatus.PASS, "value": 0.5})]


class Hangs(Planned):
    def __init__(self) -> None:
        super().__init__("hangs")
        self.cancelled = False

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


class Raises(Planned):
    def __init__(self) -> None:
        super().__init__("raises")

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        raise RuntimeError(
            "cannot reach postgresql://admin:hunter2@db.internal/orders\nsecond line"
        )


class InnerTimeout(Planned):
    def __init__(self) -> None:
        super().__init__("inner")

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        raise TimeoutError


async def test_a_hanging_collector_is_unknown_after_its_timeout_and_the_rest_stand() -> None:
    hangs = Hangs()
    started = time.perf_counter()
    checks = await run_collectors(
        [Planned("fine"), hangs, Planned("also")], Reading(now=NOW), timeout_s=0.2
    )
    took = time.perf_counter() - started

    assert took < 0.2 + 0.5, took
    assert hangs.cancelled
    by_system = {c.system: c for c in checks}
    assert [c.system for c in checks] == ["fine", "hangs", "also"]
    assert by_system["fine"].status is CheckStatus.PASS
    assert by_system["also"].status is CheckStatus.PASS
    assert by_system["hangs"].status is CheckStatus.UNKNOWN
    assert by_system["hangs"].detail == "hangs: no result within 0.2 s"
    assert 0.15 < by_system["hangs"].duration_s < 0.7


async def test_a_failing_collector_is_unknown_with_a_readable_line_and_no_secret() -> None:
    checks = await run_collectors([Raises(), InnerTimeout()], Reading(now=NOW), timeout_s=1.0)

    raised, inner = checks
    assert raised.status is CheckStatus.UNKNOWN
    assert raised.detail == (
        "raises failed: RuntimeError: cannot reach postgresql://admin:***@db.internal/orders"
    )
    assert "hunter2" not in raised.detail and "Traceback" not in raised.detail
    # A collector's own TimeoutError is its failure, not the deadline's.
    assert inner.detail == "inner failed: TimeoutError"


async def test_a_report_with_a_hanging_collector_arrives_within_the_timeout(
    runtime: Runtime,
) -> None:
    runtime.settings.health.collector_timeout_s = 0.2
    collectors = [*default_collectors(runtime.powers), Hangs()]
    started = time.perf_counter()
    report = await check_health(runtime.powers, now=NOW, collectors=collectors)
    took = time.perf_counter() - started

    assert took < 0.2 + 1.0, took
    drill = next(c for c in report.components if c.name == "drill")
    assert drill.status is HealthStatus.UNHEALTHY
    assert drill.checks[0].detail == "hangs: no result within 0.2 s"
    assert {c.name for c in report.components} >= {
        "host",
        "database",
        "legislative",
        "executive",
        "judicial",
        "crown",
    }
    assert any(a.alertname == "TriadComponentUnhealthy" for a in report.alerts)


async def test_the_host_reports_cpu_memory_and_each_disk(tmp_path: Path) -> None:
    host = HostCollector(
        data_dir=tmp_path,
        disk_paths=[Path("/"), tmp_path / "absent"],
        thresholds=Thresholds(cpu_percent=100.0, memory_percent=100.0, disk_percent=100.0),
    )
    checks = {c.name: c for c in await host.collect(Reading(now=NOW))}

    assert set(checks) == {
        "cpu_percent",
        "memory_percent",
        "disk_percent:data",
        "disk_percent:/",
        f"disk_percent:{tmp_path / 'absent'}",
    }
    for name in ("cpu_percent", "memory_percent", "disk_percent:data", "disk_percent:/"):
        value = checks[name].value
        assert value is not None and 0.0 <= value <= 100.0, name
        assert checks[name].status is CheckStatus.PASS, name
        assert checks[name].unit == "%"
    absent = checks[f"disk_percent:{tmp_path / 'absent'}"]
    assert absent.status is CheckStatus.UNKNOWN
    assert absent.detail.startswith("cannot read its usage: FileNotFoundError")


async def test_a_busy_cpu_fails_its_threshold(tmp_path: Path) -> None:
    host = HostCollector(data_dir=tmp_path, disk_paths=[], thresholds=Thresholds(cpu_percent=0.001))
    stop = time.perf_counter() + 0.3

    def spin() -> None:
        while time.perf_counter() < stop:
            pass

    await asyncio.gather(asyncio.to_thread(spin), asyncio.sleep(0.25))
    cpu = next(c for c in await host.collect(Reading(now=NOW)) if c.name == "cpu_percent")
    assert cpu.value is not None and cpu.value > 0.001
    assert cpu.status is CheckStatus.FAIL
    assert cpu.alertname == "HostCpuHigh"


async def test_the_api_error_rate_covers_the_time_since_the_last_check() -> None:
    counts = RequestCounts()
    collector = ApiErrorsCollector(counts, threshold=0.01)
    (idle,) = await collector.collect(Reading(now=NOW))
    assert (idle.status, idle.value, idle.detail) == (
        CheckStatus.PASS,
        None,
        "no requests since the last check",
    )
    for code in [200] * 98 + [500, 503]:
        counts.count(code)
    (first,) = await collector.collect(Reading(now=NOW))
    assert (first.status, first.value) == (CheckStatus.FAIL, 0.02)
    assert first.detail == "2 of 100 requests answered 5xx"
    for _ in range(200):
        counts.count(200)
    (second,) = await collector.collect(Reading(now=NOW))
    assert (second.status, second.value) == (CheckStatus.PASS, 0.0)
