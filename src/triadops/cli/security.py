"""``triad maintain security``: the newest security report, locally or from the server."""

from __future__ import annotations

from contextlib import closing

from rich.table import Table

from triadops.cli.context import JsonFlag, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.domain.errors import NotFound
from triadops.domain.security import SecurityReport
from triadops.runtime import Runtime
from triadops.storage.security import latest_report

NONE_YET = "no security report yet: submit the security_updates procedure to audit"


def security(as_json: JsonFlag = False) -> None:
    """Show the newest security report: vulnerable packages, pending OS updates, or why skipped.

    The audit itself is the ``security_updates`` procedure, an operation like any other;
    it upgrades nothing. A skipped audit says why: it has shown nothing to be safe.
    """
    client = remote()
    if client is not None:
        with closing(client):
            found = SecurityReport.model_validate(client.call("GET", "/security/report"))
    else:

        async def work(rt: Runtime) -> SecurityReport | None:
            async with rt.session(read_only=True) as session:
                return await latest_report(session)

        report = run(work)
        if report is None:
            raise NotFound(NONE_YET)
        found = report
    if as_json:
        emit_json(found)
    else:
        render(found)


def render(report: SecurityReport) -> None:
    """Print the report: its line, then each vulnerable package and the OS's security updates."""
    out = console()
    when = report.created_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out.print(
        f"security report {report.id} ({when}, operation {report.operation_id}): {report.status}"
    )
    out.print(report.summary)
    if report.python.vulnerable:
        table = Table(title="vulnerable Python packages", title_justify="left")
        for column in ("package", "version", "advisories", "fixed in"):
            table.add_column(column, overflow="fold")
        for v in report.python.vulnerable:
            table.add_row(v.package, v.version, ", ".join(v.ids), ", ".join(v.fix_versions))
        out.print(table)
    security_updates = [u for u in report.os.updates if u.security]
    if security_updates:
        table = Table(title="pending OS security updates", title_justify="left")
        for column in ("package", "installed", "candidate"):
            table.add_column(column, overflow="fold")
        for u in security_updates:
            table.add_row(u.package, u.installed or "(new)", u.candidate)
        out.print(table)
