"""What the ledger says each routine maintenance task's stored state must be, and the check.

Every entry of a task carries its figures after the change (``domain/events/maintenance``),
so each fold is "the last entry says": paused, held, failures in a row, missed total, the
last run's operation and its result. The scheduler's due times and timestamps are not
in the ledger and are not compared. A task row the ledger knows nothing of is one the
scheduler added and nothing happened to yet, so it must hold the starting figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.folds import SUBJECT, Entry, Reader
from triadops.domain.events import (
    LedgerEvent,
    TaskMissed,
    TaskPaused,
    TaskResumed,
    TaskRunEnded,
    TaskRunSubmitted,
)
from triadops.domain.ledger import Discrepancy
from triadops.storage.maintenance_tasks import PENDING, task_rows
from triadops.storage.tables import MaintenanceTaskRow

PREFIX = "maintenance_task:"


@dataclass
class TaskState:
    """One task's figures as its entries leave them (the row's defaults before any)."""

    paused: bool = False
    held: bool = False
    failures: int = 0
    missed_total: int = 0
    last_operation_id: str | None = None
    last_result: str | None = None


@dataclass
class TasksState:
    """Every task the ledger names, by name."""

    tasks: dict[str, TaskState] = field(default_factory=dict)

    def of(self, event: Any, e: Entry) -> TaskState:
        """Return the state of the task an entry names (by its subject, else its detail)."""
        subject = e[SUBJECT]
        name = subject[len(PREFIX) :] if isinstance(subject, str) else str(event.task)
        return self.tasks.setdefault(name, TaskState())


def fold_run(state: TasksState, event: TaskRunSubmitted, e: Entry) -> None:
    """A run was submitted: it is the task's last, its result pending."""
    task = state.of(event, e)
    task.last_operation_id, task.last_result = event.operation, PENDING


def fold_missed(state: TasksState, event: TaskMissed, e: Entry) -> None:
    """Occurrences went by: the total the entry carries."""
    state.of(event, e).missed_total = event.missed_total


def fold_run_ended(state: TasksState, event: TaskRunEnded, e: Entry) -> None:
    """A run ended: its result, the failures in a row, whether the task is held."""
    task = state.of(event, e)
    task.last_result, task.failures, task.held = event.result, event.failures, event.held


def fold_paused(state: TasksState, event: TaskPaused, e: Entry) -> None:
    """A person paused the task (a held one is paused instead)."""
    task = state.of(event, e)
    task.paused, task.held = True, False


def fold_resumed(state: TasksState, event: TaskResumed, e: Entry) -> None:
    """A person resumed the task: active, its failures counted from nought."""
    task = state.of(event, e)
    task.paused, task.held, task.failures = False, False, 0


TaskFold = Callable[[TasksState, Any, Entry], None]

TASK_FOLDS: Final[dict[type[LedgerEvent], TaskFold]] = {
    TaskRunSubmitted: fold_run,
    TaskMissed: fold_missed,
    TaskRunEnded: fold_run_ended,
    TaskPaused: fold_paused,
    TaskResumed: fold_resumed,
}
"""The folds of routine tasks' entries (filed under ``maintenance_task:<name>``)."""

TASK_READERS: Final = {
    kind.model_fields["kind"].default: Reader(kind, fold) for kind, fold in TASK_FOLDS.items()
}

_COMPARED = ("paused", "held", "failures", "missed_total", "last_operation_id", "last_result")


def _stored(row: MaintenanceTaskRow) -> TaskState:
    return TaskState(
        paused=row.paused,
        held=row.held,
        failures=row.consecutive_failures,
        missed_total=row.missed_total,
        last_operation_id=row.last_operation_id,
        last_result=row.last_result,
    )


async def compare_tasks(session: AsyncSession, state: TasksState) -> list[Discrepancy]:
    """Name every stored task whose figures differ from its fold, and every one missing."""
    found: list[Discrepancy] = []
    rows = await task_rows(session)
    for name, row in rows.items():
        said, stored = state.tasks.get(name, TaskState()), _stored(row)
        for key in _COMPARED:
            if getattr(stored, key) != getattr(said, key):
                found.append(
                    Discrepancy(
                        kind="maintenance_task",
                        subject=f"maintenance task {name}",
                        problem=f"{key} is {getattr(stored, key)!r}; the ledger says "
                        f"{getattr(said, key)!r}",
                    )
                )
    for name in sorted(set(state.tasks) - set(rows)):
        found.append(
            Discrepancy(
                kind="maintenance_task",
                subject=f"maintenance task {name}",
                problem="in the ledger but not stored (deleted)",
            )
        )
    return found
