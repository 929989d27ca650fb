"""Say what an analysis's figures mean in plain words, from the figures alone (no model)."""

from __future__ import annotations

from triadops.domain.log_figures import change
from triadops.domain.log_lines import ERROR_AND_UP
from triadops.ops.logs.models import LogAnalysis

LISTED = 3
"""Templates named per kind of insight (new, jumped)."""
SHOWN = 120
"""A template is cut to this many characters in an insight."""


def _quoted(template: str) -> str:
    cut = template if len(template) <= SHOWN else template[: SHOWN - 1] + "…"
    return f'"{cut}"'


def _when(moment: object) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def insights(analysis: LogAnalysis) -> list[str]:
    """The analysis in a few sentences, most important first."""
    said: list[str] = []
    if analysis.truncated:
        said.append(
            f"Truncated: reading stopped after {analysis.lines_read} lines "
            f"({analysis.bytes_read} bytes); the figures undercount (logs.analysis caps)."
        )
    if not analysis.lines and not analysis.previous_lines:
        said.append("No log lines in this range or the one before it.")
        return said
    errors = sum(c.count for c in analysis.counts if c.level in ERROR_AND_UP)
    before = sum(c.previous for c in analysis.counts if c.level in ERROR_AND_UP)
    warnings = sum(c.count for c in analysis.counts if c.level == "WARNING")
    trend = change(before, errors)
    against = "" if trend == "new" else f" ({trend} from {before} in the window before)"
    said.append(f"{errors} errors and {warnings} warnings in {analysis.lines} lines{against}.")
    for burst in analysis.bursts[:LISTED]:
        said.append(
            f"Error burst at {_when(burst.minute)}: {burst.errors} errors in a minute, "
            f"against a usual {burst.usual:g}."
        )
    new = [t for t in analysis.templates if t.trend == "new"]
    for t in new[:LISTED]:
        said.append(
            f"New {t.level.lower()} since {_when(t.first_seen)}, seen {t.count} times in "
            f"{', '.join(t.groups)}: {_quoted(t.template)}."
        )
    if len(new) > LISTED:
        said.append(f"{len(new) - LISTED} more new warning or error templates.")
    for t in [t for t in analysis.templates if t.trend == "jumped"][:LISTED]:
        said.append(
            f"Jumped from {t.previous} to {t.count} ({change(t.previous, t.count)}): "
            f"{_quoted(t.template)}."
        )
    steady = [t for t in analysis.templates if t.trend in ("steady", "fewer") and t.count]
    if steady and not new:
        top = steady[0]
        said.append(
            f"No new kinds of warning or error; the most frequent is {_quoted(top.template)} "
            f"({top.count} times)."
        )
    if analysis.problems:
        said.append(f"{len(analysis.problems)} files could not be read (see problems).")
    return said
