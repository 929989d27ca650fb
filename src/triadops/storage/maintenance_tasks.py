"""Routine maintenance tasks' stored state: due-ness by index, claims by compare-and-set.

(``storage/maintenance.py`` is the database upkeep SQL; this is the scheduler's.)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarResult, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import FINAL_STATUSES
from triadops.storage.tables import MaintenanceTaskRow, OperationRow, StepRow

PENDING = "pending"
"""``last_result`` while the last run's operation has not ended."""


async def task_names(session: AsyncSession) -> set[str]:
    """Return the names of the tasks that have a row."""
    return set((await session.scalars(select(MaintenanceTaskRow.name))).all())


async def add_tasks(
    session: AsyncSession, tasks: Sequence[tuple[str, datetime]], *, now: datetime
) -> None:
    """Insert a row for each (name, first due time) not stored yet; another writer's wins."""
    if not tasks:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(MaintenanceTaskRow)
        .values(
            [
                {
                    "name": name,
                    "next_due": due,
                    "consecutive_failures": 0,
                    "paused": False,
                    "held": False,
                    "missed_total": 0,
                    "updated_at": now,
                }
                for name, due in tasks
            ]
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )


async def due_tasks(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[MaintenanceTaskRow]:
    """Return up to `limit` tasks due at `now` and neither paused nor held, oldest due first.

    One range of the ``next_due`` index: the cost follows the due tasks, not all of them.
    """
    rows = await session.scalars(
        select(MaintenanceTaskRow)
        .where(
            MaintenanceTaskRow.next_due <= now,
            MaintenanceTaskRow.paused.is_(False),
            MaintenanceTaskRow.held.is_(False),
        )
        .order_by(MaintenanceTaskRow.next_due)
        .limit(limit)
    )
    return list(rows.all())


async def claim_run(
    session: AsyncSession,
    *,
    name: str,
    due: datetime,
    next_due: datetime,
    operation_id: str | None,
    missed: int,
    now: datetime,
) -> int | None:
    """Move a task on from `due` to `next_due` if it is still due at `due`; else None.

    The compare-and-set on ``next_due`` is what makes a run once only: of two schedulers
    that read the same due time, one updates the row and the other finds it moved (on
    PostgreSQL the second waits for the first's commit, then matches nothing). Returns
    the task's missed total after adding `missed`. With no operation, the run was skipped.
    """
    values: dict[str, object] = {
        "next_due": next_due,
        "missed_total": MaintenanceTaskRow.missed_total + missed,
        "updated_at": now,
    }
    if operation_id is not None:
        values |= {"last_run_at": now, "last_operation_id": operation_id, "last_result": PENDING}
    claimed = await session.execute(
        update(MaintenanceTaskRow)
        .where(
            MaintenanceTaskRow.name == name,
            MaintenanceTaskRow.next_due == due,
            MaintenanceTaskRow.paused.is_(False),
            MaintenanceTaskRow.held.is_(False),
        )
        .values(values)
        .returning(MaintenanceTaskRow.missed_total)
    )
    return claimed.scalar_one_or_none()


async def ended_runs(
    session: AsyncSession, *, limit: int = 500
) -> list[tuple[MaintenanceTaskRow, str]]:
    """Return the tasks whose last run's operation has ended, with its final status."""
    found = await session.execute(
        select(MaintenanceTaskRow, OperationRow.status)
        .join(OperationRow, OperationRow.id == MaintenanceTaskRow.last_operation_id)
        .where(
            MaintenanceTaskRow.last_result == PENDING,
            OperationRow.status.in_([s.value for s in FINAL_STATUSES]),
        )
        .limit(limit)
    )
    return [(row, status) for row, status in found.all()]


async def skipped_steps(session: AsyncSession, operation_id: str) -> bool:
    """Whether a step of the operation says it skipped its work (a ``skipped`` output key)."""
    outputs: ScalarResult[dict[str, Any]] = await session.scalars(
        select(StepRow.output).where(StepRow.operation_id == operation_id)
    )
    return any(isinstance(o, dict) and "skipped" in o for o in outputs.all())


async def task_row(session: AsyncSession, name: str) -> MaintenanceTaskRow | None:
    """Return one task's row, or None when the scheduler has not seen it yet."""
    return await session.get(MaintenanceTaskRow, name)


async def task_rows(session: AsyncSession) -> dict[str, MaintenanceTaskRow]:
    """Return every task's row by name."""
    rows = await session.scalars(select(MaintenanceTaskRow).order_by(MaintenanceTaskRow.name))
    return {row.name: row for row in rows.all()}


async def settle_run(
    session: AsyncSession,
    *,
    name: str,
    operation_id: str,
    result: str,
    failures: int,
    held: bool,
    now: datetime,
) -> bool:
    """Record an ended run's result on its task, once: False when another writer did."""
    values: dict[str, object] = {
        "last_result": result,
        "consecutive_failures": failures,
        "held": held,
        "updated_at": now,
    }
    if result == "completed":
        values["last_success_at"] = now
    settled = await session.execute(
        update(MaintenanceTaskRow)
        .where(
            MaintenanceTaskRow.name == name,
            MaintenanceTaskRow.last_operation_id == operation_id,
            MaintenanceTaskRow.last_result == PENDING,
        )
        .values(values)
    )
    return bool(getattr(settled, "rowcount", 0))


async def record_manual_run(
    session: AsyncSession, *, name: str, operation_id: str, now: datetime
) -> None:
    """Make a run a person asked for the task's last run, whose result is read back."""
    await session.execute(
        update(MaintenanceTaskRow)
        .where(MaintenanceTaskRow.name == name)
        .values(
            last_run_at=now, last_operation_id=operation_id, last_result=PENDING, updated_at=now
        )
    )
