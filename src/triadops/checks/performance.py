"""``performance_within_baseline``: round trips stay within what is normal for each database.

One round trip is noise: a busy event loop, the GIL or a neighbour's burst can slow it
tenfold. So the check takes several, judges their median, and widens the limit by the
spread it has seen, in this operation's samples and in the stored baseline; differences
under a millisecond never fail. Noise only ever adds time, so the fastest round trip is
what the database can do right now: a median above the limit fails only when even the
fastest round trip is above it too. The baseline learns slowly and resists outliers.

A busy moment can still slow every round trip of one burst: a worker validating a batch
of operations keeps its own event loop busy with the others' measurements for a second
or more. So a burst that would fail against the stored baseline is taken again, after
growing pauses: a slower database stays slow through every burst, a busy moment passes.
The measurement keeps the best burst, and says how many it took.
"""

from __future__ import annotations

import asyncio
import random
import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

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
BURST_PAUSES_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Pauses before each further burst, taken only while every burst so far would fail
against the stored baseline: a slowdown must outlast them (about 3 s) to be judged one.
Each is jittered by half either way, so operations validated together spread out."""
RETRY_WINDOW_S = 5.0
"""How long past the first burst's budget further bursts may still start."""
BUDGET_SHARE = 0.8
"""Share of ``check_timeout_s`` all bursts of one measurement may take, so the check
returns its best burst before the judiciary stops it."""


@dataclass(frozen=True, slots=True)
class Burst:
    """One burst of round trips to a database, summarised, in seconds."""

    median: float
    spread: float
    """Median absolute deviation of the burst's round trips."""
    fastest: float

    def fails(self, limit: float) -> bool:
        """Tell whether the judge would fail this burst against `limit`."""
        return self.median > limit and self.fastest > limit


def summarise(timings: list[float]) -> tuple[float, float]:
    """Return the median of `timings` and their median absolute deviation, in seconds."""
    median = statistics.median(timings)
    return median, statistics.median(abs(t - median) for t in timings)


def burst(timings: list[float]) -> Burst:
    """Summarise one burst of round-trip `timings`."""
    median, spread = summarise(timings)
    return Burst(median=median, spread=spread, fastest=min(timings))


def limit_s(reference: float, spread: float, tolerance: float) -> float:
    """Return the slowest median allowed over `reference`, given the `spread` seen, in s."""
    return max(
        reference * tolerance,
        reference + SPREAD_FACTOR * spread,
        reference + ABSOLUTE_FLOOR_S,
    )


async def best_burst(
    engine: AsyncEngine,
    *,
    stored: tuple[float, float] | None,
    tolerance: float,
    answer_s: float,
    until: float,
) -> tuple[Burst, int]:
    """Time bursts of round trips until one would pass against the `stored` baseline.

    Return the best burst and how many were taken. The first burst must come back within
    `answer_s` (else TimeoutError); later ones only make the answer better, so none starts
    after `until` (event-loop time) and one cut short by it is dropped. A burst that passes
    against the stored (centre, spread) alone passes the judge, whose reference and spread
    are never smaller.
    """
    loop = asyncio.get_running_loop()
    timed = maintenance.round_trips_s(engine, samples=SAMPLES)
    best, taken = burst(await asyncio.wait_for(timed, timeout=answer_s)), 1
    if stored is None:
        return best, taken
    centre, usual = stored

    def rank(b: Burst) -> tuple[bool, float]:
        return b.fails(limit_s(centre, max(usual, b.spread), tolerance)), b.median

    for pause in BURST_PAUSES_S:
        wait = pause * random.uniform(0.5, 1.5)
        if not rank(best)[0] or loop.time() + wait >= until:
            break
        await asyncio.sleep(wait)
        timed = maintenance.round_trips_s(engine, samples=SAMPLES)
        try:
            again = burst(await asyncio.wait_for(timed, timeout=until - loop.time()))
        except TimeoutError:
            break
        best, taken = min(best, again, key=rank), taken + 1
    return best, taken


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
        "round trip must be above that limit too, in the best of bursts taken over seconds"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Time round trips to every target; read, and now and then refresh, the baselines."""
        targets = ctx.database_targets
        names = [n for t in targets for n in (db_latency_name(t), db_latency_spread_name(t))]
        stored = await read_baselines(ctx.own, names=names)
        latency: dict[str, JsonValue] = {}
        fastest: dict[str, JsonValue] = {}
        spread: dict[str, JsonValue] = {}
        bursts: dict[str, JsonValue] = {}
        baseline: dict[str, JsonValue] = {}
        baseline_spread: dict[str, JsonValue] = {}
        errors: dict[str, JsonValue] = {}
        stale_before = utcnow() - timedelta(seconds=REFRESH_S)
        budget = min(ROUND_TRIP_BUDGET_S, ctx.settings.check_timeout_s)
        loop = asyncio.get_running_loop()
        ends = loop.time() + ctx.settings.check_timeout_s * BUDGET_SHARE
        for target in targets:
            centre = stored.get(db_latency_name(target))
            usual = stored.get(db_latency_spread_name(target))
            baseline[target] = None if centre is None else centre[0]
            baseline_spread[target] = None if usual is None else usual[0]
            known = None if centre is None else (centre[0], 0.0 if usual is None else usual[0])
            try:
                best, bursts[target] = await best_burst(
                    ctx.databases.get(target),
                    stored=known,
                    tolerance=ctx.settings.performance_tolerance,
                    answer_s=budget,
                    until=min(ends, loop.time() + budget + RETRY_WINDOW_S),
                )
            except TimeoutError:
                errors[target] = f"no answer within {budget:g} s"
                continue
            except (SQLAlchemyError, OSError, TriadError) as exc:
                errors[target] = str(exc).splitlines()[0]
                continue
            latency[target], spread[target], fastest[target] = (
                best.median,
                best.spread,
                best.fastest,
            )
            if centre is None or centre[1] < stale_before:
                new_centre, new_spread = learn(known, best.median, best.spread)
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
            "bursts": bursts,
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
                taken = int(number(section(after.get("bursts")).get(target), 1))
                again = f", the best of {taken} bursts" if taken > 1 else ""
                problems.append(
                    f"{target} {ms(now)} (fastest {ms(fastest)}{again}) "
                    f"against a limit of {ms(limit)}"
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
        return limit_s(reference, spread, ctx.settings.performance_tolerance)
