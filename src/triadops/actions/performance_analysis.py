"""``performance.analysis``: measure as the baseline does, compare with it, report, alert.

The figures are measured exactly as ``performance.baseline`` measures them (``measure``:
round trips of ``SELECT 1`` per database target, the API's recent answers in the access
record) and set, percentile by percentile, against the stored baseline. The report (what
was measured, against which baseline, the ratio per figure, when) is stored in
``performance_reports``; ``GET /performance/analysis`` and ``triad maintain performance``
read the newest. With no baseline established yet it says so, and compares nothing.

A figure slower than its baseline times the factor (``performance_regression_factor``, or
the step's ``factor``), and slower by more than the floor, raises a warning alert named
``TriadPerformanceRegression`` labelled with the figure: one alert per figure, which later
runs repeat (deduplicated) while it stays slow and resolve once it is back.

Read only: it changes no system (only its own report and alerts are written), so there is
nothing to roll back.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, JsonValue

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.performance import BaselineParams, measure
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.baselines import Figure, PerformanceBaseline, PerformanceReport, compare
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage.baselines import established, read_all
from triadops.storage.performance_reports import add_report
from triadops.storage.targets import OWN_DATABASE

REGRESSION = "TriadPerformanceRegression"
"""The alert a regressed figure raises, labelled ``figure``."""
NO_BASELINE = (
    "no performance baseline established yet, nothing compared: establish one with "
    "`triad maintain application`, POST /performance/baseline or a performance.baseline step"
)


class AnalysisParams(BaselineParams):
    """How much to measure (as the baseline does), and what counts as a regression."""

    factor: float | None = Field(default=None, gt=1, le=1000)
    """Slower than the baseline times this is a regression; default: the setting
    ``performance_regression_factor``."""
    floor_s: float = Field(default=0.001, ge=0, le=60)
    """A slowdown smaller than this (seconds) never counts, whatever the ratio."""


def _note(baseline: PerformanceBaseline | None, figures: list[Figure], factor: float) -> str:
    if baseline is None:
        return NO_BASELINE
    if not figures:
        return "the baseline holds none of the figures measured now: nothing compared"
    slow = [f.name for f in figures if f.regressed]
    if not slow:
        return f"{len(figures)} figures compared, none slower than {factor:g}x the baseline"
    return f"{len(slow)} of {len(figures)} figures slower than {factor:g}x: {', '.join(slow)}"


def _alerts(report: PerformanceReport) -> list[AlertIn]:
    """One alert per figure compared: firing while regressed, resolved once it is not."""
    alerts: list[AlertIn] = []
    for figure in report.figures:
        labels = {"alertname": REGRESSION, "figure": figure.name}
        if not figure.regressed:
            alerts.append(AlertIn(labels=labels, status="resolved"))
            continue
        ratio = "n/a" if figure.ratio is None else f"{figure.ratio:.2f}x"
        alerts.append(
            AlertIn(
                labels=labels,
                severity=Severity.WARNING,
                annotations={
                    "summary": f"{figure.name} is {ratio} its baseline",
                    "baseline_s": f"{figure.baseline_s:.6f}",
                    "measured_s": f"{figure.measured_s:.6f}",
                    "factor": f"{report.factor:g}",
                    "operation_id": report.operation_id,
                },
                starts_at=report.measured_at,
            )
        )
    return alerts


class PerformanceAnalysisAction(Action[AnalysisParams]):
    """Measure latency percentiles, compare them with the baseline, store a report."""

    name: ClassVar[str] = "performance.analysis"
    description: ClassVar[str] = (
        "Measure latency percentiles as the baseline does, compare them with the stored "
        "baseline, store the report and raise an alert per regressed figure"
    )
    params_model: ClassVar[type[BaseModel]] = AnalysisParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """Read only: no system changes, so its rollback has nothing to undo."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 300.0

    async def preview(self, ctx: ActionContext, params: AnalysisParams) -> StepPreview:
        """Say what would be measured and against what; nothing is stored."""
        targets = ctx.databases.names()
        baseline = established(await read_all(ctx.databases.get(OWN_DATABASE)))
        against = (
            "no baseline yet: the report will say so"
            if baseline is None
            else f"the baseline of {baseline.measured_at.isoformat()}"
        )
        return StepPreview(
            summary=(
                f"time {params.samples} round trips on each of {', '.join(targets)}; read the "
                f"API's answers of the last {params.api_window_s} s; compare with {against}"
            ),
            touches=["triad.performance_reports"],
            amounts={"targets": len(targets), "samples": params.samples},
        )

    async def run(self, ctx: ActionContext, params: AnalysisParams) -> Output:
        """Measure, compare, store the report in one short write, then raise the alerts."""
        own = ctx.databases.get(OWN_DATABASE)
        baseline = established(await read_all(own))
        databases, api = await measure(ctx, params)
        measured = PerformanceBaseline(
            measured_at=utcnow(),
            database={t: found for t, (found, _) in databases.items()},
            api=api,
        )
        factor = params.factor or ctx.settings.performance_regression_factor
        figures = (
            []
            if baseline is None
            else compare(measured, baseline, factor=factor, floor_s=params.floor_s)
        )
        report = PerformanceReport(
            measured_at=measured.measured_at,
            operation_id=ctx.operation_id,
            measured=measured,
            baseline=baseline,
            factor=factor,
            floor_s=params.floor_s,
            figures=figures,
            regressions=sum(f.regressed for f in figures),
            note=_note(baseline, figures, factor),
        )
        report_id = await add_report(own, report)
        alerts = await self._raise(ctx, report)
        ctx.log.info("performance analysed", regressions=report.regressions)
        output: Output = report.model_dump(mode="json", include={"measured_at", "note"})
        return output | {
            "report_id": report_id,
            "baseline_measured_at": None if baseline is None else baseline.measured_at.isoformat(),
            "regressions": report.regressions,
            "figures": list[JsonValue](
                [f.model_dump(mode="json") for f in figures]  # the ratio per figure
            ),
            "alerts": alerts,
        }

    async def _raise(self, ctx: ActionContext, report: PerformanceReport) -> str:
        alerts = _alerts(report)
        if not alerts:
            return "none: nothing compared"
        if ctx.alerts is None:
            return "not raised: no alert service in this context"
        try:
            await ctx.alerts(alerts)
        except Exception as exc:  # the report stands; the output says the alerts did not
            ctx.log.warning("performance alerts not stored", error=type(exc).__name__)
            return f"not stored: {type(exc).__name__}"
        return f"{report.regressions} firing, {len(alerts) - report.regressions} resolved"

    async def rollback(self, ctx: ActionContext, params: AnalysisParams, output: Output) -> Output:
        """Nothing to undo: the analysis changed no system (its report is history)."""
        return {"undone": True, "reason": "read only: measured and reported, changed nothing"}
