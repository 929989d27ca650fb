"""The collector seam: what a collector is, and running many at once, each under a timeout.

A collector measures a few figures and returns them as checks. It declares beforehand the
checks it will return (`planned`), so that when it fails or runs out of time its checks
still appear, unknown, with a line saying why: one slow or broken collector never stalls
the report nor hides what it should have measured.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from triadops.domain.health import CheckStatus, HealthCheck, HealthCounters
from triadops.logconfig import redact

DETAIL_MAX = 200
"""The longest detail a failure writes into a check."""


@dataclass
class Reading:
    """One health check in progress: its time, and the raw totals its collectors read."""

    now: datetime
    counters: HealthCounters = field(default_factory=HealthCounters)


class Collector(ABC):
    """Measures some figures; returns them as checks against their thresholds."""

    name: str
    """Names the collector in a failure's detail, such as ``host`` or ``target api``."""

    @abstractmethod
    def planned(self) -> list[HealthCheck]:
        """Return the checks this collector reports, unmeasured (their status unknown)."""

    @abstractmethod
    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """Measure now and return the checks (`planned`'s, with their figures)."""


def failure(exc: BaseException) -> str:
    """Describe an error in one line: its kind and first line, secrets masked, cut short.

    Errors from drivers and clients may quote a URL with its password or a header; the
    message goes through the log's own redaction before it reaches a report.
    """
    first = (str(exc).strip().splitlines() or [""])[0]
    text = type(exc).__name__ + (f": {redact(first)}" if first else "")
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def unknown(collector: Collector, detail: str, *, duration_s: float) -> list[HealthCheck]:
    """Return `collector`'s planned checks, unknown, each saying `detail`."""
    return [
        check.model_copy(
            update={"status": CheckStatus.UNKNOWN, "detail": detail, "duration_s": duration_s}
        )
        for check in collector.planned()
    ]


async def run_one(collector: Collector, reading: Reading, *, timeout_s: float) -> list[HealthCheck]:
    """Run one collector within `timeout_s`; a failure or timeout gives unknown checks."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s) as deadline:
            checks = await collector.collect(reading)
    except TimeoutError:
        elapsed = time.perf_counter() - started
        if deadline.expired():
            return unknown(
                collector,
                f"{collector.name}: no result within {timeout_s:g} s",
                duration_s=elapsed,
            )
        return unknown(collector, f"{collector.name} failed: TimeoutError", duration_s=elapsed)
    # The edge of a collector: whatever it raised, its checks are unknown, the rest stand.
    except Exception as exc:
        elapsed = time.perf_counter() - started
        return unknown(collector, f"{collector.name} failed: {failure(exc)}", duration_s=elapsed)
    elapsed = time.perf_counter() - started
    return [c if c.duration_s else c.model_copy(update={"duration_s": elapsed}) for c in checks]


async def run_collectors(
    collectors: Sequence[Collector], reading: Reading, *, timeout_s: float
) -> list[HealthCheck]:
    """Run `collectors` concurrently, each within `timeout_s`; return their checks in order."""
    results = await asyncio.gather(
        *(run_one(collector, reading, timeout_s=timeout_s) for collector in collectors)
    )
    return [check for checks in results for check in checks]
