"""``triad health``: run a health check now, or show stored reports.

``triad health`` checks now and shows the report; it never stores one. Remotely it shows
the server's: its newest stored report while fresh, or one the server checks now and does
not store (``GET /constitutional-health``); ``history`` lists the server's stored reports.
The monitoring loop of the server records reports (what ``/constitutional-health`` serves
and what alerts are held against), so a check run here with ad-hoc thresholds or from
another machine can never replace them. It exits 0 when the overall status is healthy or
degraded, 1 when it is unhealthy, so a script or a cron job can act on it; ``--json`` prints
the report and nothing else. Its ``alerts`` are the conditions that hold now: the loop
raises them only once they have held for their ``health.timing``.
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from triadops.cli.context import BadInput, JsonFlag, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.domain.health import CheckStatus, HealthCheck, HealthReport, HealthReportSummary
from triadops.domain.health import HealthStatus as H
from triadops.ops import stages
from triadops.ops.health import check_health, history
from triadops.runtime import Runtime

app = typer.Typer(help="Check the health of the host, databases, targets and branches.")

MAX_LIMIT = 1000


@app.callback(invoke_without_command=True)
def check(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Check health now and show the report (stored by the server only); exit 1 if unhealthy."""
    if ctx.invoked_subcommand is not None:
        return
    client = remote()
    if client is not None:
        with closing(client):
            report = client.health()
    else:

        async def work(rt: Runtime) -> HealthReport:
            # Bring the branches' stage totals up to the ledger's head, then only read.
            await stages.fold_all(rt.powers)
            return await check_health(rt.powers)

        report = run(work, creates=True, writes=True)
    if as_json:
        emit_json(report)
    else:
        render_report(report)
    if report.status is H.UNHEALTHY:
        raise typer.Exit(1)


@app.command("history")
def list_history(
    limit: Annotated[int, typer.Option(help=f"At most this many (1 to {MAX_LIMIT}).")] = 20,
    before: Annotated[
        int | None, typer.Option(metavar="ID", help="Only reports older than this id.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List stored reports, newest first: when, score and status."""
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"--limit: must be from 1 to {MAX_LIMIT}, not {limit}")
    if before is not None and before < 1:
        raise BadInput(f"--before: a report id is at least 1, not {before}")

    client = remote()
    if client is not None:
        with closing(client):
            found = client.health_history(limit=limit, before=before)
    else:

        async def work(rt: Runtime) -> list[HealthReportSummary]:
            async with rt.session(read_only=True) as session:
                return await history(session, limit=limit, before_id=before)

        found = run(work)
    if as_json:
        emit_json(found)
        return
    if not found:
        console().print("no stored health reports")
        return
    table = Table("id", "checked at", "score", "status")
    for item in found:
        checked = item.checked_at.isoformat(timespec="seconds")
        table.add_row(str(item.id), checked, f"{item.score:.2f}", item.status.value)
    console().print(table)
    if len(found) == limit:
        console().print(f"more: triad health history --limit {limit} --before {found[-1].id}")


def _figure(check: HealthCheck, value: float | None) -> str:
    if value is None:
        return ""
    unit = check.unit if check.unit in ("", "%") else f" {check.unit}"
    return f"{value:g}{unit}"


def render_report(report: HealthReport) -> None:
    """Print the overall status, each component's score, each check, the alerts raised."""
    out = console()
    took_ms = report.duration_s * 1000
    checked = report.checked_at.isoformat(timespec="seconds")
    out.print(
        f"{report.status.value} (score {report.score:.2f}), checked {checked} in {took_ms:.0f} ms"
    )
    parts = Table("component", "score", "status", title="components", title_justify="left")
    checks = Table("component", "check", "status", "value", "threshold", "detail", title="checks")
    checks.title_justify = "left"
    for part in report.components:
        parts.add_row(part.name, f"{part.score:.2f}", part.status.value)
        for c in part.checks:
            status = c.status.value.upper() if c.status is not CheckStatus.PASS else c.status.value
            checks.add_row(
                part.name,
                c.name,
                status,
                _figure(c, c.value),
                _figure(c, c.threshold),
                c.detail,
            )
    out.print(parts)
    out.print(checks)
    for alert in report.alerts:
        out.print(f"holds: {alert.severity.value} {alert.alertname}: {alert.summary}")
