"""``triad maintain``: routine maintenance, each run one governed operation."""

from __future__ import annotations

import typer

from triadops.cli import database_maintenance

app = typer.Typer(help="Run routine maintenance as governed operations.", no_args_is_help=True)
app.command("database")(database_maintenance.database)
