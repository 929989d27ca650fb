"""Each branch's own figures over the recent window: stage time, errors, availability, compliance.

- Stage duration and error rate come from the stage totals folded from the ledger
  (`ops.stages`): the totals now minus those stored with the oldest report inside the
  window, or the totals since the beginning when no such report exists. A window without
  stages passes with no figure ("no stages in the window"): an idle branch is not a sick one.
  The mean stage duration is held to the response-time threshold.
- Availability comes from worker heartbeats (`storage.workers`). Every branch runs in the
  same workers, so the four branches share one figure. Unknown until a worker has beaten.
- Compliance is the share of operations finished in the window whose judicial verdict
  passed every criterion; the four branches share it too. A window in which nothing
  finished passes with no figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import Authority
from triadops.domain.health import CheckStatus, HealthCheck, HealthCounters, StageSample
from triadops.ops.health.collectors import Collector, Reading
from triadops.ops.health.report import at_least, at_most
from triadops.settings import HealthSettings
from triadops.storage import health as store
from triadops.storage import stages, workers

BRANCHES = tuple(a.value for a in Authority)


@dataclass(frozen=True, slots=True)
class StageFigures:
    """One branch's stages in the window: how many, how many failed, their total time."""

    count: int = 0
    errors: int = 0
    sum_s: float = 0.0


def stage_figures(
    now: Sequence[StageSample], before: Sequence[StageSample] | None
) -> dict[str, StageFigures]:
    """Return each branch's stages between the `before` totals and the `now` totals.

    Without `before`, the totals since the beginning. A branch whose totals went down (the
    totals were rebuilt) is read from its current totals alone.
    """
    earlier = {(s.branch, s.outcome): s for s in before or []}
    figures: dict[str, StageFigures] = {}
    for sample in now:
        old = earlier.get((sample.branch, sample.outcome))
        count, sum_s = sample.count, sample.sum_s
        if old is not None and old.count <= count:
            count, sum_s = count - old.count, max(sum_s - old.sum_s, 0.0)
        part = figures.get(sample.branch, StageFigures())
        figures[sample.branch] = StageFigures(
            count=part.count + count,
            errors=part.errors + (count if sample.outcome == "error" else 0),
            sum_s=part.sum_s + sum_s,
        )
    return figures


class BranchCollector(Collector):
    """The four branches' figures, read in one read-only session."""

    name = "branches"

    def __init__(
        self,
        reading: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        health: HealthSettings,
    ) -> None:
        self._session = reading
        self.window_s = health.window_s
        self.thresholds = health.thresholds

    def planned(self) -> list[HealthCheck]:
        """Stage duration, error rate, availability and compliance, per branch."""
        t = self.thresholds
        kinds = [
            ("stage_duration_s", t.response_time_s, "s"),
            ("error_rate", t.error_rate, ""),
            ("availability", t.availability, ""),
            ("compliance", t.compliance, ""),
        ]
        return [
            HealthCheck(
                name=name,
                component=branch,
                status=CheckStatus.UNKNOWN,
                threshold=threshold,
                unit=unit,
                system=branch,
            )
            for branch in BRANCHES
            for name, threshold, unit in kinds
        ]

    async def collect(self, reading: Reading) -> list[HealthCheck]:
        """Read totals, the window's first report, heartbeats and verdicts; judge each."""
        since = reading.now - timedelta(seconds=self.window_s)
        async with self._session() as session:
            totals = [
                StageSample(branch=t.branch, outcome=t.outcome, count=t.count, sum_s=t.sum_s)
                for t in await stages.read_totals(session)
            ]
            first = await store.oldest_report_since(session, since=since)
            available = await workers.availability(
                session, since=since, now=reading.now, beat_s=workers.HEARTBEAT_S
            )
            finished, passed = await store.count_compliance(session, since=since)
        reading.counters.stage_totals = totals
        before = (
            None
            if first is None
            else HealthCounters.model_validate(first.report.get("counters", {}))
        )
        figures = stage_figures(totals, before.stage_totals if before else None)
        shared = {
            "availability": _availability(available, self.thresholds.availability),
            "compliance": _compliance(finished, passed, self.thresholds.compliance),
        }
        checks = []
        for check in self.planned():
            if check.name in shared:
                checks.append(check.model_copy(update=shared[check.name]))
            else:
                found = figures.get(check.component, StageFigures())
                checks.append(check.model_copy(update=_stages(check, found)))
        return checks


Update = dict[str, object]


def _stages(check: HealthCheck, found: StageFigures) -> Update:
    if not found.count:
        return {"status": CheckStatus.PASS, "detail": "no stages in the window"}
    assert check.threshold is not None
    if check.name == "error_rate":
        value = round(found.errors / found.count, 6)
        detail = f"{found.errors} of {found.count} stages failed"
    else:
        value = round(found.sum_s / found.count, 6)
        detail = f"mean of {found.count} stages"
    return {"status": at_most(value, check.threshold), "value": value, "detail": detail}


def _availability(value: float | None, threshold: float) -> Update:
    if value is None:
        return {"status": CheckStatus.UNKNOWN, "detail": "no worker has beaten yet"}
    return {
        "status": at_least(value, threshold),
        "value": round(value, 6),
        "detail": "shared by the four branches: they run in the same workers",
    }


def _compliance(finished: int, passed: int, threshold: float) -> Update:
    if not finished:
        return {"status": CheckStatus.PASS, "detail": "no operations finished in the window"}
    value = round(passed / finished, 6)
    detail = f"{passed} of {finished} finished operations passed every criterion"
    return {"status": at_least(value, threshold), "value": value, "detail": detail}
