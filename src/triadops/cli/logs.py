"""``triad logs analyze``: what the logs of a range say, here or on the server.

Locally it reads this machine's files (``$TRIAD_HOME/logs`` and the ``log_dirs``); with
``TRIAD_URL`` set it asks the server, which reads its own.
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from triadops.cli.context import BadInput, JsonFlag, load_settings
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.domain.clock import utcnow
from triadops.domain.errors import InvalidRequest
from triadops.domain.log_figures import read_since
from triadops.ops.logs.models import LogAnalysis
from triadops.ops.logs.service import analyze as analyze_logs

app = typer.Typer(help="Read triad's own logs and the services' logs.", no_args_is_help=True)
ANALYSIS_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
"""The server reads up to ``logs.analysis.max_bytes`` of files: slower than other reads."""
TEMPLATES_SHOWN = 15
"""Templates in the table; ``--json`` has them all."""


@app.command("analyze")
def analyze(
    since: Annotated[
        str, typer.Option(help="Start: a duration before now (24h, 90m, 1h30m, 7d) or ISO 8601.")
    ] = "24h",
    until: Annotated[str | None, typer.Option(help="End: as --since; default now.")] = None,
    source: Annotated[
        str | None,
        typer.Option(help="triad (its own logs) or a log_dirs folder's name; default all."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Count lines by branch and level, mine error templates, compare with the range before.

    The range before has the same length and ends where this one starts; bursts are minutes
    whose errors stand far above the usual minute's.
    """
    client = remote()
    if client is not None:
        params: dict[str, Any] = {"since": since}
        if until is not None:
            params["until"] = until
        if source is not None:
            params["source"] = source
        with closing(client):
            answer = client.call("GET", "/logs/analysis", params=params, timeout=ANALYSIS_TIMEOUT)
            found = LogAnalysis.model_validate(answer)
    else:
        now = utcnow()
        try:
            start = read_since(since, now, field="--since")
            end = read_since(until, now, field="--until") if until is not None else None
        except InvalidRequest as exc:  # a flag's value: bad input, as for every flag
            raise BadInput(exc.message) from None
        found = analyze_logs(load_settings(), start, end, source)
    if as_json:
        emit_json(found)
    else:
        render(found)


def render(analysis: LogAnalysis) -> None:
    """Print the range, the counts table, the templates table and the insights."""
    out = console()
    out.print(
        f"logs {', '.join(analysis.sources)} from {analysis.since:%Y-%m-%d %H:%M} to "
        f"{analysis.until:%Y-%m-%d %H:%M} UTC: {analysis.lines} lines "
        f"({analysis.previous_lines} in the range before), {analysis.files_read} files"
        + (" (TRUNCATED)" if analysis.truncated else "")
    )
    if analysis.counts:
        table = Table(title="lines by branch or source and level", title_justify="left")
        for column in ("group", "level", "count", "before", "change"):
            table.add_column(column, justify="right" if column in ("count", "before") else "left")
        for c in analysis.counts:
            table.add_row(c.group, c.level, str(c.count), str(c.previous), c.change)
        out.print(table)
    if analysis.templates:
        table = Table(title="warning and error templates", title_justify="left")
        for column in ("count", "before", "trend", "level", "last seen", "template"):
            table.add_column(column, overflow="fold")
        for t in analysis.templates[:TEMPLATES_SHOWN]:
            table.add_row(
                str(t.count),
                str(t.previous),
                t.trend,
                t.level,
                f"{t.last_seen:%m-%d %H:%M}",
                t.template,
            )
        out.print(table)
    for line in analysis.insights:
        out.print(f"- {line}")
