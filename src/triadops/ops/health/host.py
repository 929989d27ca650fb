"""The host's CPU, memory and disk usage, read with psutil in a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health.collectors import Collector, Reading, failure
from triadops.ops.health.report import at_most
from triadops.settings import Thresholds

COMPONENT = "host"
MIN_CPU_SAMPLE_S = 0.1
"""The shortest span CPU usage is read over; psutil's own advice for a meaningful figure."""
DATA_DISK = "data"
"""How the data folder's filesystem is named in its check (its path is not shown)."""


def _busy_percent(before: Any, after: Any) -> float:
    """Return the CPU's busy share between two ``psutil.cpu_times()`` readings, in percent.

    As psutil computes it: idle is idle plus iowait; guest time is already in user time.
    """
    fields = before._fields
    delta = {f: max(getattr(after, f) - getattr(before, f), 0.0) for f in fields}
    total = sum(delta.values()) - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)
    idle = delta["idle"] + delta.get("iowait", 0.0)
    if total <= 0:
        return 0.0
    busy = float((total - idle) / total * 100)
    return round(min(max(busy, 0.0), 100.0), 1)


class CpuSampler:
    """Reads CPU usage since the previous reading, so a reading never blocks for long.

    ``psutil.cpu_percent(interval=None)`` keeps its last reading per thread, and every
    ``asyncio.to_thread`` call may land on another thread; this keeps its own. Built once
    (primed) and kept, each reading covers the time since the last; a reading less than
    `MIN_CPU_SAMPLE_S` after the previous one waits out the rest first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = psutil.cpu_times()
        self._last_at = time.monotonic()

    def percent(self) -> float:
        """Return the busy percentage since the previous reading (blocking: call in a thread)."""
        with self._lock:
            wait = MIN_CPU_SAMPLE_S - (time.monotonic() - self._last_at)
            if wait > 0:
                time.sleep(wait)
            now = psutil.cpu_times()
            busy = _busy_percent(self._last, now)
            self._last, self._last_at = now, time.monotonic()
            return busy


class HostCollector(Collector):
    """CPU, memory, and the usage of the data folder's and each configured filesystem."""

    name = "host"

    def __init__(self, *, data_dir: Path, disk_paths: Sequence[Path], thresholds: Thresholds):
        self.thresholds = thresholds
        self.disks: dict[str, Path] = {DATA_DISK: data_dir}
        for path in disk_paths:
            self.disks.setdefault(str(path), path)
        self.cpu = CpuSampler()

    def _check(self, name: str, threshold: float, alertname: str) -> HealthCheck:
        key = name.split(":", 1)[0]
        return HealthCheck(
            name=name,
            component=COMPONENT,
            status=CheckStatus.UNKNOWN,
            threshold=threshold,
            unit="%",
            system=COMPONENT,
            alertname=alertname,
            threshold_key=key,
        )

    def planned(self) -> list[HealthCheck]:
        """CPU, memory, then one disk check per filesystem."""
        t = self.thresholds
        return [
            self._check("cpu_percent", t.cpu_percent, "HostCpuHigh"),
            self._check("memory_percent", t.memory_percent, "HostMemoryHigh"),
            *(
                self._check(f"disk_percent:{label}", t.disk_percent, "HostDiskFull")
                for label in self.disks
            ),
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """Read every figure in one worker thread."""
        values = await asyncio.to_thread(self._read)
        checks = []
        for check in self.planned():
            value = values.get(check.name)
            if isinstance(value, str):
                checks.append(check.model_copy(update={"detail": value}))
                continue
            assert check.threshold is not None
            status = at_most(value, check.threshold)
            checks.append(check.model_copy(update={"status": status, "value": value}))
        return checks

    def _read(self) -> dict[str, float | str]:
        """Return each check's figure, or a line saying why it could not be read."""
        values: dict[str, float | str] = {
            "cpu_percent": self.cpu.percent(),
            "memory_percent": float(psutil.virtual_memory().percent),
        }
        for label, path in self.disks.items():
            try:
                values[f"disk_percent:{label}"] = float(psutil.disk_usage(str(path)).percent)
            except OSError as exc:
                values[f"disk_percent:{label}"] = f"cannot read its usage: {failure(exc)}"
        return values
