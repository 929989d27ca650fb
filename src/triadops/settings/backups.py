"""The backups section: where backup files go and how long the tools may take."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


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
    leftover_grace_s: float = Field(default=3600.0, ge=1, le=30 * 86_400)
    """How old a complete backup folder that no stored backup names must be before the next
    backup removes it (what a backup killed between its rename and its row left); younger,
    it may be a concurrent backup about to store its row."""
    progress_interval_s: float = Field(default=1.0, gt=0, le=3600)
    """How often a running backup, verify or recovery test stores its progress (bytes done
    of the total) on its step, each in a short transaction of its own."""
    pg_bin: Path | None = None
    """A folder holding pg_dump and pg_restore; default: found on PATH."""
