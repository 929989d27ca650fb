"""``triad``: the command line, built with Typer and Rich."""
