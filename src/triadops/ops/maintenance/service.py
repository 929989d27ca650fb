"""Routine tasks' writes, in the caller's transaction, each with its ledger entry.

The caller (a route, a command, the scheduler's pass) owns the transaction and commits with
``lifecycle.commit``; these functions only change rows and queue entries, filed under the
subject ``maintenance_task:<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.enums import OperationStatus
from triadops.domain.events import (
    TaskMissed,
    TaskPaused,
    TaskResumed,
    TaskRunEnded,
    TaskRunSubmitted,
)
from triadops.domain.identity import Identity
from triadops.domain.maintenance_tasks import TaskState
from triadops.domain.principals import SCHEDULER
from triadops.ops.maintenance.models import find_spec, state_of
from triadops.ops.maintenance.policy import TASKS, TaskChange
from triadops.ops.maintenance.schedule import next_due
from triadops.settings import Settings
from triadops.settings.tasks import TaskSpec
from triadops.storage import maintenance_tasks as store
from triadops.storage.tables import MaintenanceTaskRow

SKIPPED = "skipped"
"""The result of a completed run one of whose steps says it skipped its work (a security
audit that could audit nothing): not a pass, not a failure."""
FAILED_RESULTS = frozenset(
    {OperationStatus.FAILED, OperationStatus.ROLLED_BACK, OperationStatus.REJECTED}
)
"""Results that count as a failed run. A cancelled run is a person's decision: it neither
counts as a failure nor clears the count."""


def subject(name: str) -> str:
    """The ledger subject a task's entries are filed under."""
    return f"maintenance_task:{name}"


async def task_row_for(
    session: AsyncSession, spec: TaskSpec, *, settings: Settings, now: datetime
) -> MaintenanceTaskRow:
    """Return the task's row, adding it (first due after `now`) when the scheduler has not."""
    row = await store.task_row(session, spec.name)
    if row is None:
        first = next_due(spec, settings.maintenance_windows, now)
        await store.add_tasks(session, [(spec.name, first)], now=now)
        row = await store.task_row(session, spec.name)
        assert row is not None
    return row


def transition(
    session: AsyncSession,
    row: MaintenanceTaskRow,
    spec: TaskSpec,
    target: TaskState,
    change: TaskChange,
    *,
    now: datetime,
) -> None:
    """Move a task to `target` past its rules, and record the entry that says so."""
    TASKS.enforce(state_of(spec, row), target, change)
    actor = change.by.name if change.by is not None else SCHEDULER
    if target is TaskState.PAUSED:
        row.paused, row.held = True, False
        event: TaskPaused | TaskResumed = TaskPaused(task=row.name, reason=change.reason)
    elif target is TaskState.ACTIVE:
        row.paused, row.held, row.consecutive_failures = False, False, 0
        event = TaskResumed(task=row.name, reason=change.reason)
    else:
        raise ValueError(f"a task is moved to {target.value} by its runs' results")
    row.updated_at = now
    ledger.record(session, event, actor=actor, operation_id=subject(row.name), at=now)


async def pause_task(
    session: AsyncSession,
    *,
    settings: Settings,
    name: str,
    by: Identity,
    reason: str,
    now: datetime,
) -> MaintenanceTaskRow:
    """Pause a task: no run is submitted for it until a person resumes it."""
    spec = find_spec(settings, name)
    change = TaskChange(task=name, by=by, reason=reason)
    TASKS.screen(TaskState.ACTIVE, TaskState.PAUSED, change)
    row = await task_row_for(session, spec, settings=settings, now=now)
    transition(session, row, spec, TaskState.PAUSED, change, now=now)
    return row


async def resume_task(
    session: AsyncSession,
    *,
    settings: Settings,
    name: str,
    by: Identity,
    reason: str,
    now: datetime,
) -> MaintenanceTaskRow:
    """Resume a paused or held task; its failure count starts again.

    A task that was due while it was paused is due again from now: its next due time
    moves on to the first occurrence after now, so resuming does not replay what passed.
    """
    spec = find_spec(settings, name)
    change = TaskChange(task=name, by=by, reason=reason)
    TASKS.screen(TaskState.PAUSED, TaskState.ACTIVE, change)
    row = await task_row_for(session, spec, settings=settings, now=now)
    transition(session, row, spec, TaskState.ACTIVE, change, now=now)
    if row.next_due <= now:
        row.next_due = next_due(spec, settings.maintenance_windows, now)
    return row


def record_run(
    session: AsyncSession,
    *,
    task: str,
    operation_id: str,
    occurrence: datetime | None,
    next_due: datetime,
    actor: str,
    now: datetime,
) -> None:
    """Record that a run of `task` was submitted as `operation_id`."""
    ledger.record(
        session,
        TaskRunSubmitted(
            task=task,
            operation=operation_id,
            occurrence=occurrence.isoformat() if occurrence else None,
            next_due=next_due.isoformat(),
        ),
        actor=actor,
        operation_id=subject(task),
        at=now,
    )


def record_missed(
    session: AsyncSession,
    *,
    task: str,
    missed: list[datetime],
    count: int,
    policy: str,
    missed_total: int,
    now: datetime,
) -> None:
    """Record the occurrences of `task` that went by without their own run."""
    ledger.record(
        session,
        TaskMissed(
            task=task,
            count=count,
            first=missed[0].isoformat(),
            last=missed[-1].isoformat(),
            policy=policy,
            missed_total=missed_total,
        ),
        actor=SCHEDULER,
        operation_id=subject(task),
        at=now,
    )


@dataclass(frozen=True, slots=True)
class RunEnded:
    """An ended run as its task recorded it."""

    task: str
    operation_id: str
    status: OperationStatus
    result: str
    """The operation's final status, or ``skipped``."""
    failures: int
    held: bool
    newly_held: bool

    @property
    def failed(self) -> bool:
        """Whether the run counts as a failure."""
        return self.status in FAILED_RESULTS


async def settle_run(
    session: AsyncSession,
    *,
    row: MaintenanceTaskRow,
    spec: TaskSpec | None,
    status: OperationStatus,
    now: datetime,
) -> RunEnded | None:
    """Read an ended run's result back onto its task, once; hold it at ``max_failures``.

    None when another scheduler recorded it first. A task no longer in the table (or
    disabled, or paused) keeps its figures and is not held.
    """
    assert row.last_operation_id is not None
    result = status.value
    failures = row.consecutive_failures
    if status in FAILED_RESULTS:
        failures += 1
    elif status is OperationStatus.COMPLETED:
        if await store.skipped_steps(session, row.last_operation_id):
            result = SKIPPED  # neither counts nor clears the failures
        else:
            failures = 0
    # Only an active task is held: a paused one already waits for a person.
    state = state_of(spec, row) if spec is not None else TaskState.DISABLED
    newly_held = spec is not None and state is TaskState.ACTIVE and failures >= spec.max_failures
    if newly_held:
        TASKS.enforce(state, TaskState.HELD, TaskChange(task=row.name, by=None, reason="failed"))
    held = row.held or newly_held
    settled = await store.settle_run(
        session,
        name=row.name,
        operation_id=row.last_operation_id,
        result=result,
        failures=failures,
        held=held,
        now=now,
    )
    if not settled:
        return None
    ledger.record(
        session,
        TaskRunEnded(
            task=row.name,
            operation=row.last_operation_id,
            result=result,
            failures=failures,
            held=held,
        ),
        actor=SCHEDULER,
        operation_id=subject(row.name),
        at=now,
    )
    return RunEnded(row.name, row.last_operation_id, status, result, failures, held, newly_held)
