"""The routine maintenance tasks' figures in ``/metrics``, read from their stored rows.

Stored totals, so every replica answers the same and a miss counter never goes down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.maintenance_tasks import task_rows


@dataclass(frozen=True, slots=True)
class TaskFigure:
    """One routine maintenance task's stored figures (seconds since the epoch)."""

    task: str
    missed_total: int
    last_run: float | None
    next_due: float


async def task_figures(session: AsyncSession) -> tuple[list[TaskFigure], dict[str, float]]:
    """Return every task's figures, and when each last succeeded (those that have)."""
    figures: list[TaskFigure] = []
    succeeded: dict[str, float] = {}
    for row in (await task_rows(session)).values():
        figures.append(
            TaskFigure(
                task=row.name,
                missed_total=row.missed_total,
                last_run=row.last_run_at.timestamp() if row.last_run_at else None,
                next_due=row.next_due.timestamp(),
            )
        )
        if row.last_success_at is not None:
            succeeded[row.name] = row.last_success_at.timestamp()
    return figures, succeeded


def task_families(tasks: list[TaskFigure]) -> Iterator[Metric]:
    """Yield the misses counter and the last run and next due gauges, by task."""
    if not tasks:
        return
    misses = CounterMetricFamily(
        "triad_maintenance_task_misses",
        "Occurrences of each routine task that went by without their own run (stored total).",
        labels=["task"],
    )
    last = GaugeMetricFamily(
        "triad_maintenance_task_last_run_timestamp_seconds",
        "When each routine task's last run was submitted.",
        labels=["task"],
    )
    due = GaugeMetricFamily(
        "triad_maintenance_task_next_due_timestamp_seconds",
        "When each routine task is next due.",
        labels=["task"],
    )
    for t in tasks:
        misses.add_metric([t.task], t.missed_total)
        due.add_metric([t.task], t.next_due)
        if t.last_run is not None:
            last.add_metric([t.task], t.last_run)
    yield from (misses, last, due)
