"""``performance.analysis`` on its own: where alerts cannot be stored the report still is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select

from tests.actions.conftest import action_context
from tests.api.test_performance_analysis import answers_of, store_baseline
from triadops.actions.performance_analysis import AnalysisParams, PerformanceAnalysisAction
from triadops.domain.alerts import AlertIn
from triadops.runtime import Runtime
from triadops.storage.performance_reports import add_report, latest_report
from triadops.storage.tables import PerformanceReportRow
from triadops.storage.targets import OWN_DATABASE


async def test_alerts_that_cannot_be_stored_leave_the_report_and_say_so(runtime: Runtime) -> None:
    await store_baseline(runtime, api_s=0.001)
    await answers_of(runtime, 0.1)

    async def broken(alerts: Sequence[AlertIn]) -> None:
        raise RuntimeError("the alerts table is gone")

    ctx = replace(action_context(runtime.settings, runtime.databases), alerts=broken)
    output = await PerformanceAnalysisAction().run(ctx, AnalysisParams(samples=7))
    assert output["regressions"] == 3
    assert output["alerts"] == "not stored: RuntimeError"
    stored = await latest_report(runtime.databases.get(OWN_DATABASE))
    assert stored is not None and stored.regressions == 3
    assert stored.operation_id == "op-test"

    bare = action_context(runtime.settings, runtime.databases)
    again = await PerformanceAnalysisAction().run(bare, AnalysisParams(samples=7))
    assert again["alerts"] == "not raised: no alert service in this context"


async def test_rollback_changes_nothing_and_the_history_is_bounded(runtime: Runtime) -> None:
    ctx = action_context(runtime.settings, runtime.databases)
    params = AnalysisParams(samples=7)
    output = await PerformanceAnalysisAction().run(ctx, params)
    report = await latest_report(runtime.databases.get(OWN_DATABASE))
    assert report is not None and output["report_id"]
    undone = await PerformanceAnalysisAction().rollback(ctx, params, output)
    assert undone["undone"] is True
    assert await latest_report(runtime.databases.get(OWN_DATABASE)) == report

    own = runtime.databases.get(OWN_DATABASE)
    last = 0
    for _ in range(3):
        last = await add_report(own, report, keep=2)
    async with runtime.session(read_only=True) as session:
        ids = list(await session.scalars(select(PerformanceReportRow.id)))
    assert sorted(ids) == [last - 1, last]  # the newest two; KEEP by default
