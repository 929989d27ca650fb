"""A log analysis as people and the API read it: counts, templates, trend, bursts, insights."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Trend = Literal["new", "jumped", "steady", "fewer"]


class _Model(BaseModel):
    model_config = ConfigDict(use_attribute_docstrings=True)


class LevelCount(_Model):
    """Lines of one level in one branch (triad's own logs) or one service's source."""

    group: str
    """A branch of triad's logs (``executive``…) or a configured source's name."""
    level: str
    count: int
    """Lines in the analysed window."""
    previous: int
    """Lines in the window of the same length just before it."""
    change: str
    """``up 40%``, ``down 10%``, ``unchanged`` or ``new``."""


class ErrorTemplate(_Model):
    """One kind of warning or error: its mined template and how often it was seen."""

    template: str
    """The message with numbers, ids, paths and IPs masked (``<NUM>``…); ``<*>`` where
    lines of one template still differ."""
    level: str
    """The highest level it was seen at."""
    groups: list[str]
    """The branches or sources it was seen in."""
    count: int
    """Lines in the analysed window."""
    previous: int
    """Lines in the window just before it."""
    trend: Trend
    """``new`` (none before), ``jumped`` (past the jump factor), ``fewer`` or ``steady``."""
    first_seen: datetime
    last_seen: datetime
    example: str
    """One line of it, secrets masked, cut to ``logs.analysis.example_chars``."""


class ErrorBurst(_Model):
    """A minute whose error count stands far above the usual minute's."""

    minute: datetime
    errors: int
    usual: float
    """The median errors per minute around it."""
    score: float
    """Robust deviations above that median."""


class LogAnalysis(_Model):
    """What the logs of a time range say, against the range of the same length before it."""

    since: datetime
    until: datetime
    previous_since: datetime
    """The previous window is ``previous_since`` to ``since``."""
    sources: list[str]
    """``triad`` (triad's own logs) and configured service folders, by name."""
    files_read: int
    bytes_read: int
    """Uncompressed bytes read, both windows."""
    lines_read: int
    lines: int
    """Lines in the analysed window."""
    previous_lines: int
    untimed: int
    """Lines skipped because neither they nor a line before them had a time."""
    truncated: bool
    """The caps (``logs.analysis.max_bytes``/``max_lines``) stopped reading: the oldest
    files were read, the newest not wholly; the figures undercount."""
    problems: list[str]
    """Files that could not be read, and why."""
    counts: list[LevelCount]
    templates: list[ErrorTemplate]
    """Warnings and errors by template, most frequent first."""
    templates_dropped: int
    """Templates not kept (past ``logs.analysis.templates``), least frequent first."""
    errors_per_minute: float
    """The median of the errors per minute over the range (the norm bursts stand out from)."""
    bursts: list[ErrorBurst]
    insights: list[str]
    """The figures in plain words, most important first."""
