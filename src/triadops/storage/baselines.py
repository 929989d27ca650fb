"""Stored performance baselines, such as a database's round-trip latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from triadops.domain.operations import utcnow
from triadops.storage.tables import BaselineRow

LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock not granted within ``lock_timeout``."""


async def get_baseline(session: AsyncSession, *, name: str) -> BaselineRow | None:
    """Return the baseline called `name`, or None when none was stored."""
    return await session.get(BaselineRow, name)


async def set_baseline(
    session: AsyncSession,
    *,
    name: str,
    value: float,
    unit: str,
    measured_at: datetime | None = None,
) -> BaselineRow:
    """Store (or replace) the baseline called `name`; the caller commits."""
    row = await session.get(BaselineRow, name)
    if row is None:
        row = BaselineRow(name=name)
        session.add(row)
    row.value = value
    row.unit = unit
    row.measured_at = measured_at or utcnow()
    await session.flush()
    return row


async def read_baselines(
    engine: AsyncEngine, *, names: Sequence[str]
) -> dict[str, tuple[float, datetime]]:
    """Return the stored (value, measured_at) of each of `names` that exists.

    One statement by primary key, outside any transaction: no lock taken, none waited for.
    """
    stmt = select(BaselineRow.name, BaselineRow.value, BaselineRow.measured_at).where(
        BaselineRow.name.in_(list(names))
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = (await conn.execute(stmt)).all()
    return {row.name: (row.value, row.measured_at) for row in rows}


async def refresh_baselines(
    engine: AsyncEngine,
    *,
    values: Mapping[str, float],
    unit: str,
    stale_before: datetime,
    wait_s: float = 0.25,
) -> bool:
    """Store `values` unless another writer refreshed them since `stale_before`.

    One upsert outside any transaction, so on SQLite it holds the write lock for itself
    alone, and waits at most `wait_s` for it: a busy database skips this refresh (returns
    False) instead of holding up the measurement that offered it.
    """
    now = utcnow()
    rows = [{"name": n, "value": v, "unit": unit, "measured_at": now} for n, v in values.items()]
    dialect = engine.dialect.name
    insert = sqlite.insert(BaselineRow) if dialect == "sqlite" else postgresql.insert(BaselineRow)
    stmt = insert.values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[BaselineRow.name],
        set_={"value": stmt.excluded.value, "unit": stmt.excluded.unit, "measured_at": now},
        where=BaselineRow.measured_at < stale_before,
    )
    wait_ms = max(1, int(wait_s * 1000))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if dialect == "sqlite":
                usual = int((await conn.execute(text("PRAGMA busy_timeout"))).scalar_one())
                wait, reset = f"PRAGMA busy_timeout = {wait_ms}", f"PRAGMA busy_timeout = {usual}"
            else:
                wait, reset = f"SET lock_timeout = {wait_ms}", "RESET lock_timeout"
            await conn.execute(text(wait))
            try:
                return bool((await conn.execute(stmt)).rowcount)
            finally:
                await conn.execute(text(reset))
    except DBAPIError as exc:
        locked = "database is locked" in str(exc.orig)
        if not (locked or getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE):
            raise
        return False  # the lock was busy past `wait_s`: the next measurement refreshes it


def db_latency_name(target: str) -> str:
    """Return the baseline name of a database target's round-trip latency, in seconds."""
    return f"db_latency_s:{target}"


def db_latency_spread_name(target: str) -> str:
    """Return the baseline name of the spread of that latency (mean absolute deviation), in s."""
    return f"db_latency_spread_s:{target}"
