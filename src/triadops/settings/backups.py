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
    sqlite_pages_per_step: int = Field(default=0, ge=0, le=1_000_000)
    """Pages SQLite's online backup copies per step; 0 (the default): all in one step.

    One step reads one snapshot: in WAL mode writers go on meanwhile, and no write can
    restart the copy (checkpoints wait for it, so the WAL grows while it runs). With N
    pages per step the snapshot ends between steps, but SQLite restarts the copy from the
    first page whenever another connection writes to the database, which triad's own
    writes (heartbeats, the step's progress) do every second on a busy server."""
    leftover_grace_s: float = Field(default=3600.0, ge=1, le=30 * 86_400)
    """How old a complete backup folder that no stored backup names must be before the next
    backup removes it (what a backup killed between its rename and its row left); younger,
    it may be a concurrent backup about to store its row."""
    pg_bin: Path | None = None
    """A folder holding pg_dump and pg_restore; default: found on PATH."""
