"""The logs section: triad's own per-branch log files, how they rotate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr

from triadops.logfiles import LogFiles


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
