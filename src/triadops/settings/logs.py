"""The logs section: triad's own per-branch log files, how they rotate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from triadops.logfiles import LogFiles


class LogAnalysisSettings(BaseModel):
    """How ``triad logs analyze`` and the ``logs_clean_after_change`` check read and judge."""

    max_bytes: int = Field(default=1024**3, ge=1024, le=1024**4)
    """Bytes (uncompressed) one analysis reads at most; past it the result says truncated."""
    max_lines: int = Field(default=10_000_000, ge=100, le=10**9)
    """Lines one analysis reads at most; past it the result says truncated."""
    templates: int = Field(default=500, ge=10, le=100_000)
    """Error templates kept per analysis (the most frequent when there are more)."""
    example_chars: int = Field(default=300, ge=40, le=4000)
    """An example line is cut to this many characters (after secrets are masked)."""
    jump_factor: float = Field(default=3.0, gt=1.0, le=1000.0)
    """A template jumped when its count is at least this many times the previous window's."""
    jump_min_count: int = Field(default=10, ge=1, le=1_000_000)
    """… and at least this many (a template seen 1 then 3 times has not jumped)."""
    burst_score: float = Field(default=6.0, gt=0, le=1000.0)
    """A minute's errors are a burst this many robust deviations above the median minute."""
    burst_min_count: int = Field(default=5, ge=1, le=1_000_000)
    """… and at least this many errors in that minute (0 then 2 is not a burst)."""
    check_lookback_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    """The check's norm: the logs of this long before the operation."""
    check_min_lines: int = Field(default=20, ge=1, le=1_000_000)
    """Fewer lines than this in the check's norm make its verdict inconclusive."""


class LogSettings(BaseModel):
    """Triad's own log files: one JSON-lines stream per branch, rotated and gzipped."""

    files: bool = True
    """Servers and workers write ``$TRIAD_HOME/logs/<branch>.log`` besides stderr."""
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=4096, le=10 * 1024**3)
    """A log file is rotated (gzipped aside) when it would grow past this many bytes."""
    max_age_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    """A log file is rotated once it is this old, however small."""
    keep: int = Field(default=14, ge=1, le=10_000)
    """Gzipped generations kept per stream; ``log_rotation`` also purges them by age."""
    analysis: LogAnalysisSettings = Field(default_factory=LogAnalysisSettings)
    """``[logs.analysis]``: the analysis's caps and thresholds."""

    def open_files(self, folder: Path) -> LogFiles | None:
        """The per-branch files in `folder`, or None when files are off."""
        if not self.files:
            return None
        return LogFiles(
            folder, max_bytes=self.max_bytes, max_age_s=self.max_age_hours * 3600, keep=self.keep
        )


def secret_values(model: BaseModel) -> Iterator[str]:
    """Every secret a settings model holds (its ``SecretStr`` values), however deep."""
    for name in type(model).model_fields:
        yield from _secrets_in(getattr(model, name))


def _secrets_in(value: object) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, BaseModel):
        yield from secret_values(value)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets_in(item)
