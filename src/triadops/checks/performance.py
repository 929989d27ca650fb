"""``performance_within_baseline``: round trips stay within what is normal for each database.

One round trip is noise: a busy event loop, the GIL or a neighbour's burst can slow it
tenfold. So the check takes several, judges their median, and widens the limit by the
spread it has seen, in this operation's samples and in the stored baseline; differences
under a millisecond never fail. Noise only ever adds time, so the fastest round trip is
what the database can do right now: a median above the limit fails only when even the
fastest round trip is above it too. The baseline learns slowly and resists outliers.
"""

from __future__ import annotations

import asyncio
import statistics
from datetime import timedelta
from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.measurements import ms, number, section
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult, utcnow
from triadops.storage import maintenance
from triadops.storage.baselines import (
    db_latency_name,
    db_latency_spread_name,
    read_baselines,
    refresh_baselines,
)

SAMPLES = 7
"""Round trips per measurement; the median of seven ignores up to three slow ones."""
ABSOLUTE_FLOOR_S = 0.001
"""A slowdown under a millisecond is never a failure, whatever the ratio."""
SPREAD_FACTOR = 4.0
"""How many spreads (mean absolute deviations) above the reference a median may lie."""
MIN_SPREAD_S = 20e-6
"""The smallest spread a baseline keeps: below this, timer and scheduler noise dominate."""
REFRESH_S = 60.0
"""A stored baseline learns from at most one measurement per this many seconds."""
LEARNING_RATE = 0.2
"""How far one measurement moves the baseline towards itself."""
CLIP = 3.0
"""A measurement further than this many spreads from the baseline counts as only this far."""
ROUND_TRIP_BUDGET_S = 5.0
"""How long the round trips to one target may take before it counts as not answering."""


def summarise(timings: list[float]) -> tuple[float, float]:
    """Return the median of `timings` and their median absolute deviation, in seconds."""
    median = statistics.median(timings)
    return median, statistics.median(abs(t - median) for t in timings)


def learn(stored: tuple[float, float] | None, median: float, spread: float) -> tuple[float, float]:
    """Return the baseline (centre, spread) after seeing one measurement's median and spread.

    A clipped exponential average: each measurement pulls the centre a fifth of the way
    towards itself, but never by more than a fifth of `CLIP` spreads, so one burst of load
    barely moves it, while a lasting change is learned within a few dozen refreshes.
    """
    if stored is None:
        return median, max(spread, MIN_SPREAD_S)
    centre, usual = stored
    usual = max(usual, MIN_SPREAD_S)
    bound = CLIP * usual
    step = max(-bound, min(bound, median - centre))
    deviation = min(abs(median - centre), bound)
    return centre + LEARNING_RATE * step, max(
        MIN_SPREAD_S, usual + LEARNING_RATE * (deviation - usual)
    )


class PerformanceWithinBaseline(Check):
    """Database round trips stay within the tolerance of their baseline."""

    name: ClassVar[str] = "performance_within_baseline"
    description: ClassVar[str] = (
        "Median of several SELECT 1 round trips per database against the slower of the "
        "stored baseline and the before measurement, times performance_tolerance or plus "
        "four spreads, whichever is wider, and never less than 1 ms above it; the fastest "
        "round trip must be above that limit too"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Time round trips to every target; read, and now and then refresh, the baselines."""
        targets = ctx.database_targets
        names = [n for t in targets for n in (db_latency_name(t), db_latency_spread_name(t))]
        stored = await read_baselines(ctx.own, names=names)
        latency: dict[str, JsonValue] = {}
        fastest: dict[str, JsonValue] = {}
        spread: dict[str, JsonValue] = {}
        baseline: dict[str, JsonValue] = {}
        baseline_spread: dict[str, JsonValue] = {}
        errors: dict[str, JsonValue] = {}
        stale_before = utcnow() - timedelta(seconds=REFRESH_S)
        budget = min(ROUND_TRIP_BUDGET_S, ctx.settings.check_timeout_s)
        for target in targets:
            centre = stored.get(db_latency_name(target))
            usual = stored.get(db_latency_spread_name(target))
            baseline[target] = None if centre is None else centre[0]
            baseline_spread[target] = None if usual is None else usual[0]
            try:
                timings = await asyncio.wait_for(
                    maintenance.round_trips_s(ctx.databases.get(target), samples=SAMPLES),
                    timeout=budget,
                )
            except TimeoutError:
                errors[target] = f"no answer within {budget:g} s"
                continue
            except (SQLAlchemyError, OSError, TriadError) as exc:
                errors[target] = str(exc).splitlines()[0]
                continue
            median, deviation = summarise(timings)
            latency[target], spread[target], fastest[target] = median, deviation, min(timings)
            if centre is None or centre[1] < stale_before:
                known = None if centre is None else (centre[0], 0.0 if usual is None else usual[0])
                new_centre, new_spread = learn(known, median, deviation)
                await refresh_baselines(
                    ctx.own,
                    values={
                        db_latency_name(target): new_centre,
                        db_latency_spread_name(target): new_spread,
                    },
                    unit="s",
                    stale_before=stale_before,
                )
        return {
            "latency_s": latency,
            "fastest_s": fastest,
            "spread_s": spread,
            "baseline_s": baseline,
            "baseline_spread_s": baseline_spread,
            "samples": SAMPLES,
            "errors": errors,
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail when the median after, and its fastest round trip, lie above the limit."""
        problems: list[str] = []
        findings: list[str] = []
        for target in ctx.database_targets:
            if target not in section(after.get("latency_s")):
                error = section(after.get("errors")).get(target)
                problems.append(f"{target} did not answer: {error}")
                continue
            now = number(section(after.get("latency_s"))[target])
            fastest = number(section(after.get("fastest_s")).get(target), now)
            limit = self.limit(ctx, target, before, after)
            if now > limit and fastest > limit:
                problems.append(
                    f"{target} {ms(now)} (fastest {ms(fastest)}) against a limit of {ms(limit)}"
                )
            elif now > limit:
                findings.append(
                    f"{target} {ms(now)} against a limit of {ms(limit)}, but its fastest round "
                    f"trip took {ms(fastest)}: a busy moment, not a slower database"
                )
            else:
                findings.append(f"{target} {ms(now)} against a limit of {ms(limit)}")
        return CheckResult(
            name=self.name,
            passed=not problems,
            detail=("too slow: " + "; ".join(problems))
            if problems
            else "within baseline: " + "; ".join(findings),
            before=before,
            after=after,
        )

    @staticmethod
    def limit(ctx: CheckContext, target: str, before: Measurement, after: Measurement) -> float:
        """Return the slowest median `target` may show after the operation, in seconds.

        The reference is the slower of the stored baseline and this operation's own
        before-median: a database that was already slow before the operation is not the
        operation's doing. The spread is the widest seen: the baseline's, before's, after's.
        """

        def value(measurement: Measurement, key: str) -> float:
            return number(section(measurement.get(key)).get(target))

        stored = value(after, "baseline_s") or value(before, "baseline_s")
        stored_spread = value(after, "baseline_spread_s") or value(before, "baseline_spread_s")
        reference = max(stored, value(before, "latency_s"))
        spread = max(stored_spread, value(before, "spread_s"), value(after, "spread_s"))
        return max(
            reference * ctx.settings.performance_tolerance,
            reference + SPREAD_FACTOR * spread,
            reference + ABSOLUTE_FLOOR_S,
        )
