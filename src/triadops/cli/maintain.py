"""``triad maintain``: routine maintenance, each run one governed operation, and its calendar."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from triadops.cli import (
    application_maintenance,
    database_maintenance,
    maintenance_tasks,
    performance_analysis,
    security,
)
from triadops.cli.context import JsonFlag, load_settings
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.domain.errors import InvalidRequest
from triadops.domain.windows import zone
from triadops.ops.maintenance.calendar import MAX_DAYS, Occurrence, upcoming

app = typer.Typer(help="Run routine maintenance as governed operations.", no_args_is_help=True)
app.command("database")(database_maintenance.database)
app.command("tasks")(maintenance_tasks.tasks)
app.command("run")(maintenance_tasks.run_task)
app.command("pause")(maintenance_tasks.pause)
app.command("resume")(maintenance_tasks.resume)
app.command("security")(security.security)
app.command("application")(application_maintenance.application)
app.command("performance")(performance_analysis.performance)


def _shown(item: Occurrence, tz: ZoneInfo | None) -> Occurrence:
    """The occurrence with its times in `tz` (None: this machine's local zone)."""
    return item.model_copy(
        update={"opens": item.opens.astimezone(tz), "closes": item.closes.astimezone(tz)}
    )


@app.command("windows")
def windows(
    days: Annotated[int, typer.Option(min=1, max=MAX_DAYS, help="How far ahead.")] = 7,
    tz: Annotated[
        str | None, typer.Option("--tz", help="An IANA zone to show times in (default: local).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show the next occurrences of the maintenance windows and blackouts in force."""
    try:
        shown = zone(tz) if tz else None
    except ValueError as exc:
        raise InvalidRequest(f"--tz: {exc}", field="tz") from None
    client = remote()
    if client is not None:
        with closing(client):
            answer = client.call(
                "GET", "/maintenance/windows", params={"days": days, "tz": tz or "UTC"}
            )
        items = [Occurrence.model_validate(item) for item in answer["items"]]
        if shown is None:  # the server shows UTC; the reader's own zone is local
            items = [
                i.model_copy(
                    update={"opens": i.opens.astimezone(), "closes": i.closes.astimezone()}
                )
                for i in items
            ]
    else:  # no database needed: the calendar is settings
        items = upcoming(load_settings(), days=days, tz=shown)
    if as_json:
        emit_json(items)
        return
    table = Table(title=f"maintenance calendar, next {days} days", title_justify="left")
    for column in ("opens", "closes", "kind", "name", "zone"):
        table.add_column(column, overflow="fold")
    for o in items:
        table.add_row(
            o.opens.strftime("%a %Y-%m-%d %H:%M %Z"),
            o.closes.strftime("%a %Y-%m-%d %H:%M %Z"),
            o.kind,
            o.name,
            o.zone,
        )
    console().print(table)
