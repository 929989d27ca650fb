"""``performance.baseline``: measure latency percentiles and store them as the baseline.

Databases: round trips of ``SELECT 1`` per target. API: the latencies of the answers in the
access record over a recent window (what clients really saw), when it holds any. Storing
also resets the baseline ``performance_within_baseline`` learns from (each target's centre
and spread), so after this the check compares against the measured figures. The values it
replaced are kept in the step's output, and a rollback puts them back.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.actions.base import Action, ActionContext, Output
from triadops.domain.baselines import PERCENTILES, LatencyPercentiles, latency_percentiles
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage import maintenance
from triadops.storage.baselines import (
    API_SAMPLES,
    Stored,
    api_latencies,
    api_percentile_name,
    db_latency_name,
    db_latency_spread_name,
    db_percentile_name,
    db_samples_name,
    replace_baselines,
    restore_baselines,
)
from triadops.storage.targets import OWN_DATABASE

MIN_SPREAD_S = 20e-6
"""The smallest spread stored (as the check keeps): below it, timer noise dominates."""


class BaselineParams(BaseModel):
    """How much to measure."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    samples: int = Field(default=50, ge=7, le=1000)
    """Round trips timed per database target."""
    api_window_s: int = Field(default=3600, ge=60, le=30 * 86400)
    """How far back the access record's answers count for the API's percentiles."""
    api_max_samples: int = Field(default=10_000, ge=1, le=100_000)
    """The most recent answers read at most."""


Measured = dict[str, tuple[LatencyPercentiles, list[float]]]
"""Per database target: its percentiles and the round-trip timings they came from."""


async def measure(
    ctx: ActionContext, params: BaselineParams
) -> tuple[Measured, LatencyPercentiles | None]:
    """Time round trips on every database target; read the API's recent answers.

    The API's percentiles are None when the access record holds no answer in the window.
    """
    databases: Measured = {}
    for target in ctx.databases.names():
        timings = await maintenance.round_trips_s(ctx.databases.get(target), samples=params.samples)
        databases[target] = (latency_percentiles(timings), timings)
    since = utcnow() - timedelta(seconds=params.api_window_s)
    answers = await api_latencies(
        ctx.databases.get(OWN_DATABASE), since=since, limit=params.api_max_samples
    )
    return databases, (latency_percentiles(answers) if answers else None)


def _values(databases: Measured, api: LatencyPercentiles | None) -> dict[str, tuple[float, str]]:
    values: dict[str, tuple[float, str]] = {}
    for target, (found, timings) in databases.items():
        for p in PERCENTILES:
            values[db_percentile_name(p, target)] = (getattr(found, f"p{p}_s"), "s")
        values[db_samples_name(target)] = (float(found.samples), "round trips")
        median = statistics.median(timings)
        spread = statistics.median(abs(t - median) for t in timings)
        values[db_latency_name(target)] = (median, "s")
        values[db_latency_spread_name(target)] = (max(spread, MIN_SPREAD_S), "s")
    for p in PERCENTILES:
        values[api_percentile_name(p)] = (0.0 if api is None else getattr(api, f"p{p}_s"), "s")
    values[API_SAMPLES] = (0.0 if api is None else float(api.samples), "requests")
    return values


def _stored_json(previous: Stored) -> dict[str, JsonValue]:
    return {n: [v, u, at.isoformat()] for n, (v, u, at) in sorted(previous.items())}


class PerformanceBaselineAction(Action[BaselineParams]):
    """Measure database and API latency percentiles and store them as the baseline."""

    name: ClassVar[str] = "performance.baseline"
    description: ClassVar[str] = (
        "Measure latency percentiles (database round trips, the API's recent answers) "
        "and store them as the performance baseline"
    )
    params_model: ClassVar[type[BaseModel]] = BaselineParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """The replaced baseline is kept in the step's output; a rollback restores it."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 300.0

    async def preview(self, ctx: ActionContext, params: BaselineParams) -> StepPreview:
        """Say what would be measured; nothing is stored."""
        targets = ctx.databases.names()
        return StepPreview(
            summary=(
                f"time {params.samples} round trips on each of {', '.join(targets)}; read the "
                f"API's answers of the last {params.api_window_s} s; store the percentiles"
            ),
            touches=["triad.baselines"],
            amounts={"targets": len(targets), "samples": params.samples},
        )

    async def run(self, ctx: ActionContext, params: BaselineParams) -> Output:
        """Measure, then store in one short transaction; report the figures and the old ones."""
        databases, api = await measure(ctx, params)
        measured_at: datetime = utcnow()
        values = _values(databases, api)
        previous = await replace_baselines(
            ctx.databases.get(OWN_DATABASE), values=values, measured_at=measured_at
        )
        ctx.log.info("performance baseline established", targets=list(databases))
        return {
            "measured_at": measured_at.isoformat(),
            "database": {t: found.model_dump() for t, (found, _) in databases.items()},
            "api": None if api is None else api.model_dump(),
            "names": list[JsonValue](sorted(values)),
            "previous": _stored_json(previous),
        }

    async def rollback(self, ctx: ActionContext, params: BaselineParams, output: Output) -> Output:
        """Put back the baseline this step replaced."""
        listed = output.get("names")
        names = [str(n) for n in listed] if isinstance(listed, list) else []
        raw = output.get("previous")
        previous: Stored = {}
        if isinstance(raw, dict):
            for name, entry in raw.items():
                if isinstance(entry, list) and len(entry) == 3:
                    value, unit, at = entry
                    when = datetime.fromisoformat(str(at))
                    previous[name] = (float(str(value)), str(unit), when)
        await restore_baselines(ctx.databases.get(OWN_DATABASE), names=names, previous=previous)
        return {
            "undone": True,
            "restored": list[JsonValue](sorted(previous)),
            "removed": list[JsonValue](sorted(set(names) - set(previous))),
        }
