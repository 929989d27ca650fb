"""``triad alerts`` and ``triad silences``: see, acknowledge and resolve alerts; mute them."""

from __future__ import annotations

import typer

alerts_app = typer.Typer(help="List, show, acknowledge and resolve alerts.", no_args_is_help=True)
silences_app = typer.Typer(help="Add, list and expire silences.", no_args_is_help=True)
