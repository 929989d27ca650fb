"""Worker heartbeats, and the availability read from them.

Every branch runs in the same workers (a worker drives an operation from review to
verdict), so one availability figure stands for all four branches.

A worker's row spans [started_at, last_beat]. A worker that beats again after a silence
longer than `GAP_BEATS` beats (stopped, stalled, cut off) gets a fresh row starting now and
its old row is kept under a suffixed name, so the silence stays visible as a gap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.settings import MonitorSettings
from triadops.storage.tables import WorkerRow

HEARTBEAT_S: float = MonitorSettings.model_fields["monitor_heartbeat_s"].default
"""The ``monitor_heartbeat_s`` setting's default, for a caller without settings."""
GAP_BEATS = 3
"""Beats a worker may miss before its next beat starts a new row (the silence is a gap)."""
KEEP_AFTER_WINDOW_S = 86400.0
"""How much older than the health window a worker's row may grow before it is pruned."""
_NAME_MAX = 100


def _retired_name(name: str, now: datetime) -> str:
    suffix = "@" + now.strftime("%Y%m%dT%H%M%S.%f")
    return name[: _NAME_MAX - len(suffix)] + suffix


async def beat(
    session: AsyncSession,
    *,
    name: str,
    now: datetime,
    started_at: datetime,
    beat_s: float = HEARTBEAT_S,
) -> None:
    """Record that worker `name` is alive at `now`; the caller commits.

    A first beat opens the row at `started_at`. After a silence longer than `GAP_BEATS`
    beats, or after `stop`, the old row is retired under a suffixed name and a new row
    opens at `now`: the silence is never counted as available.
    """
    fresh = now - timedelta(seconds=GAP_BEATS * beat_s)
    renewed = await session.execute(
        update(WorkerRow)
        .where(WorkerRow.name == name, WorkerRow.stopped_at.is_(None), WorkerRow.last_beat >= fresh)
        .values(last_beat=now)
    )
    if getattr(renewed, "rowcount", 0):
        return
    retired = await session.execute(
        update(WorkerRow).where(WorkerRow.name == name).values(name=_retired_name(name, now))
    )
    opened = now if getattr(retired, "rowcount", 0) else min(started_at, now)
    session.add(WorkerRow(name=name, started_at=opened, last_beat=now, stopped_at=None))
    await session.flush()


async def stop(session: AsyncSession, *, name: str, now: datetime) -> None:
    """Record that worker `name` stopped at `now` (a clean shutdown); the caller commits."""
    await session.execute(
        update(WorkerRow)
        .where(WorkerRow.name == name, WorkerRow.stopped_at.is_(None))
        .values(stopped_at=now)
    )


async def availability(
    session: AsyncSession, *, since: datetime, now: datetime, beat_s: float = HEARTBEAT_S
) -> float | None:
    """Return the share of [since, now] during which at least one worker was alive.

    A worker counts as alive from its start until one beat after its last beat (or until it
    stopped). The period starts no earlier than the oldest start on record, so a fresh
    install is not charged for the time before it first ran. None when no worker ever beat.
    """
    first = (await session.execute(select(func.min(WorkerRow.started_at)))).scalar_one()
    if first is None:
        return None
    start = max(since, first)
    if now <= start:
        return 1.0
    reach = timedelta(seconds=beat_s)
    rows = (
        await session.execute(
            select(WorkerRow.started_at, WorkerRow.last_beat, WorkerRow.stopped_at).where(
                WorkerRow.last_beat >= start - reach, WorkerRow.started_at <= now
            )
        )
    ).all()
    spans = sorted(
        (max(r.started_at, start), min(r.stopped_at or r.last_beat + reach, now)) for r in rows
    )
    covered = timedelta()
    end = start
    for lo, hi in spans:
        lo = max(lo, end)
        if hi > lo:
            covered += hi - lo
            end = hi
    return min(1.0, covered / (now - start))


async def prune(session: AsyncSession, *, now: datetime, window_s: float) -> int:
    """Delete rows silent for longer than the window plus a day; return how many went."""
    before = now - timedelta(seconds=window_s + KEEP_AFTER_WINDOW_S)
    result = await session.execute(delete(WorkerRow).where(WorkerRow.last_beat < before))
    return int(getattr(result, "rowcount", 0) or 0)
