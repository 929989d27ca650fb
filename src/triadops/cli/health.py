"""``triad health``: run a health check now, or show stored reports."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check the health of the host, databases, targets and branches.")
