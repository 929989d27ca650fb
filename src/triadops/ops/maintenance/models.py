"""Routine tasks' read models, built from the task table and the stored rows in one place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.errors import NotFound
from triadops.domain.maintenance_tasks import MaintenanceTask, TaskState
from triadops.ops.maintenance.schedule import next_due
from triadops.settings import Settings
from triadops.settings.tasks import TaskSpec
from triadops.storage import maintenance_tasks as store
from triadops.storage.tables import MaintenanceTaskRow


def state_of(spec: TaskSpec, row: MaintenanceTaskRow | None) -> TaskState:
    """Return where a task stands: disabled in settings, held, paused, or active."""
    if not spec.enabled:
        return TaskState.DISABLED
    if row is not None and row.held:
        return TaskState.HELD
    if row is not None and row.paused:
        return TaskState.PAUSED
    return TaskState.ACTIVE


def task_of(
    spec: TaskSpec, row: MaintenanceTaskRow | None, *, settings: Settings, now: datetime
) -> MaintenanceTask:
    """Build one task's read model from its declaration and its row (None: not seen yet)."""
    return MaintenanceTask(
        name=spec.name,
        procedure=spec.procedure,
        schedule=spec.schedule,
        catch_up=spec.catch_up,
        max_failures=spec.max_failures,
        state=state_of(spec, row),
        next_due=row.next_due
        if row is not None
        else next_due(spec, settings.maintenance_windows, now),
        last_run_at=row.last_run_at if row else None,
        last_operation_id=row.last_operation_id if row else None,
        last_result=row.last_result if row else None,
        consecutive_failures=row.consecutive_failures if row else 0,
        missed_total=row.missed_total if row else 0,
    )


def find_spec(settings: Settings, name: str) -> TaskSpec:
    """Return the task called `name` from the table, or raise NotFound listing the tasks."""
    for spec in settings.task_table():
        if spec.name == name:
            return spec
    known = ", ".join(t.name for t in settings.task_table()) or "none"
    raise NotFound(f"unknown maintenance task {name!r} (known: {known})", field="task")


async def list_tasks(
    session: AsyncSession, settings: Settings, *, now: datetime
) -> list[MaintenanceTask]:
    """Return every task in the table, in its order, with its stored state."""
    rows = await store.task_rows(session)
    return [
        task_of(spec, rows.get(spec.name), settings=settings, now=now)
        for spec in settings.task_table()
    ]


async def read_task(
    session: AsyncSession, settings: Settings, name: str, *, now: datetime
) -> MaintenanceTask:
    """Return one task's read model, or raise NotFound."""
    spec = find_spec(settings, name)
    return task_of(spec, await store.task_row(session, name), settings=settings, now=now)
