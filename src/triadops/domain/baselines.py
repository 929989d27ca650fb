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
