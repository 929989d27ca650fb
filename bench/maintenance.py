"""Deciding which routine tasks are due: 10,000 stored tasks beside 100, the same few due.

Each database (a fresh SQLite file) holds its tasks' stored next-due times, spread over the
coming year, with the same ten due now. Deciding which are due is the scheduler's query
(``storage.maintenance_tasks.due_tasks``: one range of the ``next_due`` index), timed in
alternating rounds against both databases; the median round counts. The aim: 10,000 costs
at most 2x what 100 do. A pass decides and reviews in a read session, never under the write
lock (``tests/ops/maintenance/test_scheduler.py`` commits another writer mid-pass on SQLite).

    python bench/maintenance.py [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from table import Row, cli
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.settings.application import MaintenanceSettings
from triadops.storage.maintenance_tasks import add_tasks, due_tasks

DUE = 10
AIM = 2.0


async def _open(folder: Path, tasks: int, now: datetime) -> Runtime:
    home = folder / f"home-{tasks}"
    home.mkdir()
    settings = Settings(
        home=home,
        database_url=f"sqlite+aiosqlite:///{home / 'triad.db'}",
        monitor=False,
        maintenance=MaintenanceSettings(seed_tasks=False),
    )
    rt = await Runtime.open(settings)
    rows = [
        (f"task-{i:05d}", now - timedelta(minutes=i + 1))
        if i < DUE
        else (f"task-{i:05d}", now + timedelta(minutes=1 + (i * 52.0) % (365 * 24 * 60)))
        for i in range(tasks)
    ]
    async with rt.session() as session:
        for start in range(0, len(rows), 500):
            await add_tasks(session, rows[start : start + 500], now=now)
        await session.commit()
    return rt


async def _round(rt: Runtime, now: datetime, queries: int) -> float:
    started = time.perf_counter()
    for _ in range(queries):
        async with rt.session(read_only=True) as session:
            found = await due_tasks(session, now=now, limit=100)
            assert len(found) == DUE
    return (time.perf_counter() - started) / queries


async def rows(quick: bool) -> list[Row]:
    now = utcnow().astimezone(UTC)
    rounds, queries = (3, 50) if quick else (9, 300)
    with tempfile.TemporaryDirectory() as tmp:
        small, large = await _open(Path(tmp), 100, now), await _open(Path(tmp), 10_000, now)
        try:
            times: dict[int, list[float]] = {100: [], 10_000: []}
            for _ in range(rounds):
                times[100].append(await _round(small, now, queries))
                times[10_000].append(await _round(large, now, queries))
        finally:
            await small.close()
            await large.close()
    few, many = statistics.median(times[100]), statistics.median(times[10_000])
    ratio = many / few
    return [
        Row(
            path=f"which of 10,000 routine tasks are due ({DUE} due; no write lock)",
            measured=f"{many * 1e3:.2f} ms",
            baseline=f"{few * 1e3:.2f} ms for 100 tasks",
            ratio=ratio,
            aim=f"<= {AIM:g}x",
            met=ratio <= AIM,
        )
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
