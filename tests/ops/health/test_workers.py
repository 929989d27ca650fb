"""Worker heartbeats: rows, gaps, stops, the availability read from them, and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from triadops.runtime import Runtime
from triadops.storage import workers
from triadops.storage.tables import WorkerRow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def beat_from(rt: Runtime, name: str, start: float, end: float, every: float = 10) -> None:
    """Beat as worker `name` every `every` seconds from `start` to `end`, as a worker would."""
    t = start
    while t <= end:
        async with rt.session() as session:
            await workers.beat(session, name=name, now=at(t), started_at=at(start))
            await session.commit()
        t += every


async def rows(rt: Runtime) -> list[WorkerRow]:
    async with rt.session(read_only=True) as session:
        found = await session.scalars(select(WorkerRow).order_by(WorkerRow.started_at))
        return list(found.all())


async def availability(rt: Runtime, since: float, now: float) -> float | None:
    async with rt.session(read_only=True) as session:
        return await workers.availability(session, since=at(since), now=at(now), beat_s=10)


async def test_no_worker_ever_beat_is_none(runtime: Runtime) -> None:
    assert await availability(runtime, 0, 3600) is None


async def test_a_steady_worker_is_fully_available(runtime: Runtime) -> None:
    await beat_from(runtime, "w1", 0, 300)
    assert await availability(runtime, 0, 300) == 1.0
    # One beat's grace after the last beat, then the silence counts.
    assert await availability(runtime, 0, 310) == 1.0
    assert await availability(runtime, 0, 410) == pytest.approx(310 / 410)


async def test_a_silence_starts_a_new_row_and_stays_a_gap(runtime: Runtime) -> None:
    await beat_from(runtime, "w1", 0, 60)
    await beat_from(runtime, "w1", 120, 180)  # 60 s without a beat: more than three beats

    found = await rows(runtime)
    assert len(found) == 2
    old, new = found
    assert old.name.startswith("w1@") and (old.started_at, old.last_beat) == (at(0), at(60))
    assert new.name == "w1" and (new.started_at, new.last_beat) == (at(120), at(180))
    # Alive over [0, 70] and [120, 180]: 130 of 180 seconds.
    assert await availability(runtime, 0, 180) == pytest.approx(130 / 180)


async def test_a_short_silence_is_not_a_gap(runtime: Runtime) -> None:
    await beat_from(runtime, "w1", 0, 60)
    await beat_from(runtime, "w1", 85, 120)  # 25 s: within three beats
    assert [r.name for r in await rows(runtime)] == ["w1"]
    assert await availability(runtime, 0, 120) == 1.0


async def test_a_stopped_worker_is_unavailable_from_its_stop(runtime: Runtime) -> None:
    await beat_from(runtime, "w1", 0, 50)
    async with runtime.session() as session:
        await workers.stop(session, name="w1", now=at(55))
        await session.commit()
    assert await availability(runtime, 0, 110) == pytest.approx(55 / 110)
    # Starting again under the same name opens a new row: the stop stays visible.
    await beat_from(runtime, "w1", 100, 110)
    assert len(await rows(runtime)) == 2
    assert await availability(runtime, 0, 110) == pytest.approx(65 / 110)


async def test_overlapping_workers_count_once_and_the_window_starts_at_the_first_start(
    runtime: Runtime,
) -> None:
    await beat_from(runtime, "w1", 0, 100)
    await beat_from(runtime, "w2", 50, 200)
    # The window reaches an hour back, but nothing ran before 0: a fresh install is whole.
    assert await availability(runtime, -3600, 200) == 1.0
    assert await availability(runtime, 150, 250) == pytest.approx(60 / 100)


async def test_rows_silent_past_the_window_and_a_day_are_pruned(runtime: Runtime) -> None:
    await beat_from(runtime, "old", 0, 10)
    await beat_from(runtime, "w1", 0, 10)
    day = 86400
    await beat_from(runtime, "w1", 2 * day, 2 * day)
    async with runtime.session() as session:
        gone = await workers.prune(session, now=at(2 * day), window_s=3600)
        await session.commit()
    assert gone == 2
    assert [r.name for r in await rows(runtime)] == ["w1"]
