"""A performance baseline: measured latency percentiles of the databases and the API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

PERCENTILES = (50, 95, 99)
"""The percentiles a baseline keeps."""


class LatencyPercentiles(BaseModel):
    """Latency percentiles of one measured thing, in seconds."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    p50_s: float
    p95_s: float
    p99_s: float
    samples: int
    """How many timings they were taken from."""


class PerformanceBaseline(BaseModel):
    """The baseline last established, and when."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    measured_at: datetime
    database: dict[str, LatencyPercentiles]
    """Round trips (``SELECT 1``) per database target."""
    api: LatencyPercentiles | None
    """Latency of the API's answers in the access record; None when it held none."""


def percentile(ordered: Sequence[float], p: float) -> float:
    """Return the nearest-rank `p`th percentile of sorted, non-empty `ordered` values."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_percentiles(timings: Sequence[float]) -> LatencyPercentiles:
    """Summarise non-empty `timings` (seconds) by their percentiles."""
    ordered = sorted(timings)
    return LatencyPercentiles(
        p50_s=percentile(ordered, 50),
        p95_s=percentile(ordered, 95),
        p99_s=percentile(ordered, 99),
        samples=len(ordered),
    )


class Figure(BaseModel):
    """One measured figure set against the baseline's."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    name: str
    """The baseline's name for it, e.g. ``db_latency_p95_s:triad`` or ``api_latency_p50_s``."""
    baseline_s: float
    measured_s: float
    ratio: float | None
    """``measured_s / baseline_s``; None when the baseline is zero."""
    regressed: bool
    """Slower than the baseline by more than the factor and by more than the floor."""


class PerformanceReport(BaseModel):
    """What ``performance.analysis`` measured, against which baseline, and what it found."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    measured_at: datetime
    operation_id: str
    """The operation whose step measured it."""
    measured: PerformanceBaseline
    """The figures measured now, in the baseline's shape."""
    baseline: PerformanceBaseline | None
    """The baseline compared against; None when none was established yet."""
    factor: float
    """A figure slower than its baseline times this (and by more than the floor) regressed."""
    floor_s: float
    """A slowdown smaller than this never counts, whatever the ratio."""
    figures: list[Figure]
    """Each figure measured now that the baseline also holds."""
    regressions: int
    note: str
    """The finding in one sentence, including when there was no baseline to compare with."""


def compare(
    measured: PerformanceBaseline,
    baseline: PerformanceBaseline,
    *,
    factor: float,
    floor_s: float,
) -> list[Figure]:
    """Set each percentile measured now against the baseline's, database by database."""
    pairs: list[tuple[str, LatencyPercentiles, LatencyPercentiles]] = [
        (f"db_latency_p{{p}}_s:{target}", now, baseline.database[target])
        for target, now in sorted(measured.database.items())
        if target in baseline.database
    ]
    if measured.api is not None and baseline.api is not None:
        pairs.append(("api_latency_p{p}_s", measured.api, baseline.api))
    figures: list[Figure] = []
    for pattern, now, then in pairs:
        for p in PERCENTILES:
            before, after = getattr(then, f"p{p}_s"), getattr(now, f"p{p}_s")
            ratio = after / before if before > 0 else None
            slower = after - before > floor_s
            figures.append(
                Figure(
                    name=pattern.format(p=p),
                    baseline_s=before,
                    measured_s=after,
                    ratio=ratio,
                    regressed=slower and (ratio is None or ratio > factor),
                )
            )
    return figures
