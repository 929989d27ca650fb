"""The optimal window: the quietest contiguous period, inside the allowed windows, that fits.

Pure (no I/O, no clock): the caller reads the recorded usage and the procedure's history and
hands them in.

Usage is counted per 5-minute bucket (``BUCKET``). A future bucket's usage is predicted from
the same 5-minute bucket of the week (Monday 00:00 UTC is bucket 0, ``WEEK`` buckets in all)
in the recorded history: the sum of what was recorded in that bucket of the week, divided by
the number of weeks the history spans (a bucket with nothing recorded in a week counted as
0, since nothing was served). The week is read in UTC: a load that follows local time shifts
by an hour in the weeks across a DST change, which at 5-minute resolution moves a figure,
never a window (windows are read in their own zone).

A slot starts on a bucket boundary, lies inside one occurrence of an allowed window, clear of
every blackout, and lasts at least ``MIN_DURATION`` and the expected duration. Among all of
them the one with the lowest predicted usage wins; a tie goes to the earliest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from operator import sub

from triadops.domain.windows import Blackout, MaintenanceWindow, Slot

BUCKET = timedelta(minutes=5)
"""The width of one usage bucket."""
BUCKET_S = 300
WEEK = 7 * 24 * 12
"""5-minute buckets in a week."""
MIN_DURATION = timedelta(minutes=30)
"""The shortest slot an operation is given (the seed's rule)."""
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, 00:00 UTC


def bucket_start(moment: datetime) -> datetime:
    """Return the start of the 5-minute bucket `moment` falls in (UTC)."""
    seconds = (moment - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % BUCKET_S)


def week_bucket(moment: datetime) -> int:
    """Return the bucket of the week `moment` falls in: 0 is Monday 00:00-00:05 UTC."""
    return int(((moment - _EPOCH) // BUCKET) % WEEK)


def predicted_usage(recorded: Iterable[tuple[datetime, float]]) -> list[float]:
    """Return the predicted usage of each bucket of the week from recorded (bucket, count).

    The mean over the weeks the records span, a missing bucket counting as 0. No records
    predict 0 everywhere (nothing is known to be busier than anything else).
    """
    sums = [0.0] * WEEK
    rows = list(recorded)
    if not rows:
        return sums
    epoch = _EPOCH.timestamp()
    # Arithmetic on the timestamps: a timedelta per bucket costs 3x as much.
    indices = [int((at.timestamp() - epoch) // BUCKET_S) for at, _ in rows]
    for index, (_, count) in zip(indices, rows, strict=True):
        sums[index % WEEK] += count
    weeks = max(1, math.ceil((max(indices) - min(indices) + 1) / WEEK))
    return [s / weeks for s in sums]


def expected_duration(durations_s: Sequence[float], declared_s: float | None) -> timedelta:
    """Return how long to reserve: the p90 of past durations, else the declared one, ≥ 30 min.

    The p90 by nearest rank over the completed runs given (so one slow outlier in ten does
    not stretch every slot, and two do).
    """
    if durations_s:
        ordered = sorted(durations_s)
        seconds = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    else:
        seconds = declared_s or 0.0
    return max(MIN_DURATION, timedelta(seconds=seconds))


@dataclass(frozen=True, slots=True)
class Choice:
    """The slot chosen, the window occurrence it lies in, and its predicted usage."""

    starts: datetime
    ends: datetime
    window: str
    occurrence: Slot
    usage: float
    """Predicted usage per 5-minute bucket, averaged over the slot."""


def allowed_periods(
    windows: Sequence[MaintenanceWindow],
    blackouts: Sequence[Blackout],
    after: datetime,
    until: datetime,
) -> list[tuple[str, Slot, Slot]]:
    """Return (window, occurrence, part) for each part of an occurrence clear of blackouts.

    Parts start no earlier than `after`; they are in order of their start.
    """
    cuts = sorted(c for b in blackouts for c in b.occurrences(after, until + timedelta(days=7)))
    parts: list[tuple[str, Slot, Slot]] = []
    for window in windows:
        for opens, closes in window.occurrences(after, until):
            start = max(opens, after)
            for b_opens, b_closes in cuts:
                if b_closes <= start or b_opens >= closes:
                    continue
                if b_opens > start:
                    parts.append((window.name, (opens, closes), (start, b_opens)))
                start = max(start, b_closes)
            if start < closes:
                parts.append((window.name, (opens, closes), (start, closes)))
    parts.sort(key=lambda p: (p[2][0], p[0]))
    return parts


def optimal_slot(
    *,
    windows: Sequence[MaintenanceWindow],
    blackouts: Sequence[Blackout],
    usage: Sequence[float],
    needed: timedelta,
    after: datetime,
    until: datetime,
) -> Choice | None:
    """Return the lowest-usage slot of length `needed` in the allowed periods, or None.

    `usage` is the predicted usage of each bucket of the week (``predicted_usage``). Cost:
    one pass over the buckets of the allowed periods, with running sums.
    """
    length = max(1, math.ceil(max(needed, MIN_DURATION) / BUCKET))
    best: Choice | None = None
    best_total = math.inf
    for name, occurrence, (start, end) in allowed_periods(windows, blackouts, after, until):
        first = bucket_start(start)
        if first < start:
            first += BUCKET
        count = int((end - first) // BUCKET)
        if count < length:
            continue
        index = week_bucket(first)
        values = (list(usage) * (count // WEEK + 2))[index : index + count]
        # Each start's total from running sums, all in C: the lowest, and its earliest start.
        running = list(accumulate(values, initial=0.0))
        totals = list(map(sub, running[length:], running[: count - length + 1]))
        lowest = min(totals)
        at = totals.index(lowest)
        if lowest < best_total:
            best_total = lowest
            starts = first + at * BUCKET
            best = Choice(starts, starts + length * BUCKET, name, occurrence, lowest / length)
    return best


def first_fit(
    *,
    windows: Sequence[MaintenanceWindow],
    blackouts: Sequence[Blackout],
    needed: timedelta,
    after: datetime,
    until: datetime,
) -> tuple[datetime, str, Slot] | None:
    """Return the earliest start at or after `after` with `needed` clear inside a window."""
    span = max(needed, MIN_DURATION)
    for name, occurrence, (start, end) in allowed_periods(windows, blackouts, after, until):
        if end - start >= span:
            return start, name, occurrence
    return None
