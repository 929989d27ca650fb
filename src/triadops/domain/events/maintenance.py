"""The ledger events of routine maintenance tasks, filed under ``maintenance_task:<name>``.

Each carries the task's stored state after it (absolute figures, not increments), so the
fold is "the last entry says" and an edited row is found by comparing the two.
"""

from __future__ import annotations

from typing import Literal

from triadops.domain.events.base import LedgerEvent


class TaskEvent(LedgerEvent):
    """What every routine task entry names."""

    task: str


class TaskRunSubmitted(TaskEvent):
    """A run of the task was submitted as an operation (by the scheduler or a person)."""

    kind: Literal["maintenance_task_run"] = "maintenance_task_run"
    operation: str
    occurrence: str | None
    """The due time it runs for (ISO 8601, UTC); None for a run a person asked for now."""
    next_due: str


class TaskMissed(TaskEvent):
    """Occurrences of the task went by without their own run (downtime, a run still going)."""

    kind: Literal["maintenance_task_missed"] = "maintenance_task_missed"
    count: int
    first: str
    last: str
    policy: str
    """The catch-up policy that decided what ran for them."""
    missed_total: int
    """Every occurrence missed so far, this one included."""


class TaskRunEnded(TaskEvent):
    """A run's operation ended; its result was read back onto the task."""

    kind: Literal["maintenance_task_run_ended"] = "maintenance_task_run_ended"
    operation: str
    result: str
    failures: int
    """Failed runs in a row after this one."""
    held: bool
    """Whether the task is held after it (``max_failures`` reached)."""


class TaskPaused(TaskEvent):
    """A person paused the task: no run is submitted until it is resumed."""

    kind: Literal["maintenance_task_paused"] = "maintenance_task_paused"
    reason: str


class TaskResumed(TaskEvent):
    """A person resumed a paused or held task; its failure count starts again."""

    kind: Literal["maintenance_task_resumed"] = "maintenance_task_resumed"
    reason: str
