"""``triad maintain performance``: the newest performance analysis, or a new one submitted.

Without ``--analyse`` it shows the newest ``performance_analysis`` report (``GET
/performance/analysis`` remotely): each figure measured, its baseline, the ratio, and
whether it regressed. With ``--analyse`` it submits the ``performance_analysis`` procedure
as one governed operation (``--dry-run``, ``--wait``, ``--json``, ``--as`` as ever).
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from triadops.cli.context import AsName, BadInput, JsonFlag, local_identity, run
from triadops.cli.ops import deliver
from triadops.cli.outcome import DryRun, Wait
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.cli.requests import RequestFlags, request_from_flags
from triadops.domain.baselines import PerformanceReport
from triadops.domain.errors import NotFound
from triadops.runtime import Runtime
from triadops.storage.performance_reports import latest_report
from triadops.storage.targets import OWN_DATABASE

PROCEDURE = "performance_analysis"
NONE_YET = (
    "no performance analysis yet: `triad maintain performance --analyse` submits one "
    "(the performance_analysis procedure)"
)


def _latest() -> PerformanceReport:
    client = remote()
    if client is not None:
        with closing(client):
            return PerformanceReport.model_validate(client.call("GET", "/performance/analysis"))

    async def work(rt: Runtime) -> PerformanceReport | None:
        return await latest_report(rt.databases.get(OWN_DATABASE))

    found = run(work)
    if found is None:
        raise NotFound(NONE_YET)
    return found


def render(report: PerformanceReport) -> None:
    """Show a report: when, against which baseline, each figure and its ratio."""
    out = console()
    against = (
        "no baseline"
        if report.baseline is None
        else f"the baseline of {report.baseline.measured_at.isoformat()}"
    )
    out.print(
        f"measured {report.measured_at.isoformat()} by {report.operation_id}, "
        f"against {against} (factor {report.factor:g}, floor {report.floor_s:g} s)"
    )
    if report.figures:
        table = Table(title_justify="left")
        for column in ("figure", "baseline ms", "measured ms", "ratio", "regressed"):
            table.add_column(column, overflow="fold")
        for f in report.figures:
            table.add_row(
                f.name,
                f"{f.baseline_s * 1000:.3f}",
                f"{f.measured_s * 1000:.3f}",
                "n/a" if f.ratio is None else f"{f.ratio:.2f}",
                "yes" if f.regressed else "no",
            )
        out.print(table)
    out.print(report.note)


def performance(
    analyse: Annotated[
        bool,
        typer.Option(
            "--analyse", help="Submit a performance_analysis operation instead of showing one."
        ),
    ] = False,
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Show the newest performance analysis (figures, baseline, ratios), or submit one.

    The analysis measures database and API latency percentiles as the baseline does and
    compares them with it; a figure slower than ``performance_regression_factor`` times its
    baseline raises an alert. With no baseline yet, the report says so.
    """
    if not analyse:
        if dry_run or wait or as_name:
            raise BadInput("--dry-run, --wait and --as go with --analyse")
        report = _latest()
        if as_json:
            emit_json(report)
        else:
            render(report)
        return
    identity = local_identity(as_name)
    flags = RequestFlags(
        authority="executive", procedure=PROCEDURE, description="performance analysis"
    )
    request = request_from_flags(flags, identity)
    deliver(
        request, remote(), identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name
    )
