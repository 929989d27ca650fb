"""Choosing the optimal window over 90 days of 5-minute buckets, beside one pass over them.

The choice (``domain.placement``): 90 days of recorded usage (25,920 buckets) folded into a
week's prediction, then the quietest slot of an operation's length found over a 90-day
horizon inside a window open all day (the most a window can allow: every bucket a
candidate), clear of a weekly blackout. The baseline, measured in the same run, is the
least any choice costs: one Python pass summing the same 25,920 figures. The aim is the
issue's: under 50 ms; the median of several rounds counts.

    python bench/windows.py [--quick]
"""

from __future__ import annotations

import statistics
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from table import Row, cli
from triadops.domain.placement import BUCKET, optimal_slot, predicted_usage
from triadops.domain.windows import MaintenanceWindow

AIM_MS = 50.0
DAYS = 90
NOW = datetime(2026, 12, 7, tzinfo=UTC)
ALL_DAY = MaintenanceWindow(name="all-day", every="daily", start=time(0, 0), duration_min=1440)
BLACKOUT = MaintenanceWindow(
    name="friday", every="weekly", start=time(12, 0), duration_min=720, weekday=4
)


def _history() -> list[tuple[datetime, float]]:
    buckets = DAYS * 24 * 12
    start = NOW - DAYS * timedelta(days=1)
    return [(start + i * BUCKET, float((i * 7919) % 97)) for i in range(buckets)]


def _choose(history: list[tuple[datetime, float]]) -> None:
    usage = predicted_usage(history)
    chosen = optimal_slot(
        windows=[ALL_DAY],
        blackouts=[BLACKOUT],
        usage=usage,
        needed=timedelta(minutes=95),
        after=NOW,
        until=NOW + DAYS * timedelta(days=1),
    )
    assert chosen is not None


def _baseline(history: list[tuple[datetime, float]]) -> None:
    total = 0.0
    for _, count in history:
        total += count
    assert total >= 0


def _median_ms(
    work: Callable[[list[tuple[datetime, float]]], None],
    history: list[tuple[datetime, float]],
    rounds: int,
) -> float:
    timings = []
    for _ in range(rounds):
        started = clock.perf_counter()
        work(history)
        timings.append((clock.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def rows(quick: bool) -> list[Row]:
    """The optimal window's choice over 90 days, beside one pass over the same buckets."""
    history = _history()
    rounds = 3 if quick else 11
    chosen = _median_ms(_choose, history, rounds)
    base = _median_ms(_baseline, history, rounds)
    return [
        Row(
            path="optimal window, 90 days of 5-minute buckets",
            measured=f"{chosen:.1f} ms",
            baseline=f"{base:.1f} ms (one pass over the buckets)",
            ratio=chosen / base if base else None,
            aim=f"< {AIM_MS:.0f} ms",
            met=chosen < AIM_MS,
        )
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
