"""The backups section: where backup files go and how long the tools may take."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from triadops.settings.smoke_queries import SmokeQuery, unique_names


class BackupSettings(BaseModel):
    """Database backups: their folder, the dump and restore tools' bounds."""

    folder: Path | None = None
    """Where backups are written, one subfolder each; default ``$TRIAD_HOME/backups``."""
    keep_days: int = Field(default=30, ge=1, le=36_500)
    """Database backups older than this are pruned (``triad backup prune``), but never the
    newest one whose recovery test passed, nor the newest of all."""
    timeout_s: float = Field(default=3600.0, gt=0, le=86_400)
    """The most one dump or restore (pg_dump, pg_restore, SQLite's backup) may take."""
    sqlite_pages_per_step: int = Field(default=4096, ge=1, le=1_000_000)
    """Pages SQLite's online backup copies per step: between steps its read snapshot ends,
    so WAL checkpoints are not held off for the whole copy."""
    pg_bin: Path | None = None
    """A folder holding pg_dump and pg_restore; default: found on PATH."""
    smoke_queries: list[SmokeQuery] = Field(default_factory=list)
    """Read-only SELECTs a recovery test runs on the restored copy of their target, each in
    a read-only transaction with its timeout (``[[backups.smoke_queries]]``); one that
    fails or answers other than expected fails the test, naming it."""

    @model_validator(mode="after")
    def _smoke_queries_unique(self) -> BackupSettings:
        twice = unique_names(self.smoke_queries)
        if twice:
            raise ValueError("; ".join(twice))
        return self
