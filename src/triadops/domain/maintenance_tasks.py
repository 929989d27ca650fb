"""Routine maintenance tasks as people read them: schedule, state, last run, next run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class TaskState(StrEnum):
    """Where a routine task stands: the scheduler submits runs only for an active one."""

    ACTIVE = "active"
    PAUSED = "paused"
    """A person paused it; a person resumes it."""
    HELD = "held"
    """It failed ``max_failures`` times in a row; a person resumes it after looking."""
    DISABLED = "disabled"
    """``enabled = false`` in the task table."""


class MaintenanceTask(BaseModel):
    """One routine task: what it runs, when, and how its last run went."""

    name: str
    procedure: str
    schedule: str
    """``cron 0 3 * * * Europe/Paris`` or ``window daily``."""
    catch_up: str
    max_failures: int
    state: TaskState
    next_due: datetime | None
    """As stored; before the scheduler first sees the task, its first due time from now."""
    last_run_at: datetime | None
    last_operation_id: str | None
    last_result: str | None
    """``pending`` while the run goes on, then its operation's final status."""
    consecutive_failures: int
    missed_total: int
