"""Each branch's own figures over the recent window, judged from what that branch did.

- Decision time and error rate come from the stage totals folded from the ledger
  (`ops.stages`): the totals now minus those stored with the oldest report inside the
  window, or the totals since the beginning when no such report exists. Decision time is
  the mean time the branch's own stages took (the legislature's reviews, the executive's
  stages less the steps' own run time, the judiciary's validations), held to
  ``response_time_s``; a wait in a queue or for a person is nobody's decision time, so the
  crown, whose stages are people acknowledging, has no decision-time check. An error is a
  stage the branch's own code ended in failure or doubt: a cancel by the crown or the
  requester stops a stage and fails nobody. A window without stages passes with no figure
  ("no stages in the window"): an idle branch is not a sick one.
- The executive's slow steps: the share of its steps that took more than
  ``slow_step_share`` of their own action's ``timeout_s`` (a 30 s step of a 300 s action is
  not slow), held to ``error_rate``.
- Availability comes from worker heartbeats (`storage.workers`): every branch runs in the
  same workers, so the four branches share one figure. Unknown until a worker has beaten.
- Compliance is the executive's: the share of operations it carried through, finished in
  the window, whose judicial verdict passed every criterion. An operation a cancel ended is
  left out: stopping a change is not a failure of it. A window in which nothing finished
  passes with no figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import Authority
from triadops.domain.health import CheckStatus, HealthCheck, HealthCounters, StageSample
from triadops.ops.health.collectors import Collector, Reading
from triadops.ops.health.report import at_least, at_most
from triadops.ops.stages import ERROR, SLOW_STEP, STAGE_OUTCOMES, STEP_OUTCOMES
from triadops.settings import HealthSettings
from triadops.storage import health as store
from triadops.storage import stages, workers

BRANCHES = tuple(a.value for a in Authority)


@dataclass(frozen=True, slots=True)
class StageFigures:
    """One branch's stages in the window: how many, how many failed, their time, its steps."""

    count: int = 0
    errors: int = 0
    sum_s: float = 0.0
    steps: int = 0
    slow_steps: int = 0
    step_s: float = 0.0

    def add(self, outcome: str, count: int, sum_s: float) -> StageFigures:
        """Return these figures with `count` more stages or steps of `outcome`."""
        if outcome in STEP_OUTCOMES:
            return replace(
                self,
                steps=self.steps + count,
                slow_steps=self.slow_steps + (count if outcome == SLOW_STEP else 0),
                step_s=self.step_s + sum_s,
            )
        if outcome not in STAGE_OUTCOMES:
            return self  # a wait: nobody's decision
        return replace(
            self,
            count=self.count + count,
            errors=self.errors + (count if outcome == ERROR else 0),
            sum_s=self.sum_s + sum_s,
        )

    @property
    def decision_s(self) -> float:
        """The mean time the branch's own code took per stage (steps' run time taken out)."""
        return max(self.sum_s - self.step_s, 0.0) / self.count if self.count else 0.0


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
        figures[sample.branch] = part.add(sample.outcome, count, sum_s)
    return figures


CHECKS: dict[str, tuple[str, ...]] = {
    Authority.LEGISLATIVE.value: ("decision_s", "error_rate", "availability"),
    Authority.EXECUTIVE.value: (
        "decision_s",
        "error_rate",
        "slow_steps",
        "availability",
        "compliance",
    ),
    Authority.JUDICIAL.value: ("decision_s", "error_rate", "availability"),
    Authority.CROWN.value: ("error_rate", "availability"),
}
"""Each branch's checks: what it does. The crown's stages are people's acknowledgements
(no decision time); only the executive carries operations out (slow steps, compliance)."""


class BranchCollector(Collector):
    """The four branches' figures, read in one read-only session."""

    name = "branches"

    def __init__(
        self,
        reading: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        health: HealthSettings,
        *,
        beat_s: float = workers.HEARTBEAT_S,
    ) -> None:
        self._session = reading
        self.beat_s = beat_s
        self.window_s = health.window_s
        self.thresholds = health.thresholds

    def planned(self) -> list[HealthCheck]:
        """Each branch's checks (`CHECKS`), its own figures."""
        t = self.thresholds
        kinds = {
            "decision_s": (t.response_time_s, "s", "response_time_s"),
            "error_rate": (t.error_rate, "", "error_rate"),
            "slow_steps": (t.error_rate, "", "error_rate"),
            "availability": (t.availability, "", "availability"),
            "compliance": (t.compliance, "", "compliance"),
        }
        return [
            HealthCheck(
                name=name,
                component=branch,
                status=CheckStatus.UNKNOWN,
                threshold=kinds[name][0],
                unit=kinds[name][1],
                system=branch,
                threshold_key=kinds[name][2],
            )
            for branch in BRANCHES
            for name in CHECKS[branch]
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
                session, since=since, now=reading.now, beat_s=self.beat_s
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
    assert check.threshold is not None
    if check.name == "slow_steps":
        if not found.steps:
            return {"status": CheckStatus.PASS, "detail": "no steps in the window"}
        value = round(found.slow_steps / found.steps, 6)
        detail = f"{found.slow_steps} of {found.steps} steps took most of their timeout"
        return {"status": at_most(value, check.threshold), "value": value, "detail": detail}
    if not found.count:
        return {"status": CheckStatus.PASS, "detail": "no stages in the window"}
    if check.name == "error_rate":
        value = round(found.errors / found.count, 6)
        detail = f"{found.errors} of {found.count} stages failed"
    else:
        value = round(found.decision_s, 6)
        detail = f"mean of {found.count} stages" + (
            f", {found.steps} steps' run time taken out" if found.steps else ""
        )
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
