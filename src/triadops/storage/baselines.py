"""Stored performance baselines: learned round-trip latency, and established percentiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from triadops.domain.baselines import PERCENTILES, LatencyPercentiles, PerformanceBaseline
from triadops.domain.operations import utcnow
from triadops.storage.tables import AuditLogRow, BaselineRow

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


API_SAMPLES = "api_latency_samples"
"""How many API answers the established API percentiles came from."""


def db_percentile_name(p: int, target: str) -> str:
    """Return the name of a database target's established `p`th latency percentile, in s."""
    return f"db_latency_p{p}_s:{target}"


def db_samples_name(target: str) -> str:
    """Return the name of how many round trips a target's percentiles came from."""
    return f"db_latency_samples:{target}"


def api_percentile_name(p: int) -> str:
    """Return the name of the API's established `p`th latency percentile, in s."""
    return f"api_latency_p{p}_s"


Stored = dict[str, tuple[float, str, datetime]]
"""Baselines by name: (value, unit, measured_at)."""


async def read_all(engine: AsyncEngine) -> Stored:
    """Return every stored baseline, outside any transaction."""
    stmt = select(BaselineRow.name, BaselineRow.value, BaselineRow.unit, BaselineRow.measured_at)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = (await conn.execute(stmt)).all()
    return {row.name: (row.value, row.unit, row.measured_at) for row in rows}


async def replace_baselines(
    engine: AsyncEngine, *, values: Mapping[str, tuple[float, str]], measured_at: datetime
) -> Stored:
    """Store `values` (value, unit) in one short transaction; return what they replaced."""
    async with engine.begin() as conn:
        rows = await conn.execute(
            select(
                BaselineRow.name, BaselineRow.value, BaselineRow.unit, BaselineRow.measured_at
            ).where(BaselineRow.name.in_(list(values)))
        )
        previous = {r.name: (r.value, r.unit, r.measured_at) for r in rows}
        await conn.execute(delete(BaselineRow).where(BaselineRow.name.in_(list(values))))
        await conn.execute(
            insert(BaselineRow),
            [
                {"name": n, "value": v, "unit": u, "measured_at": measured_at}
                for n, (v, u) in values.items()
            ],
        )
    return previous


async def restore_baselines(engine: AsyncEngine, *, names: Sequence[str], previous: Stored) -> None:
    """Put back `previous` for `names` (a name without one is deleted), in one transaction."""
    async with engine.begin() as conn:
        await conn.execute(delete(BaselineRow).where(BaselineRow.name.in_(list(names))))
        kept = [
            {"name": n, "value": v, "unit": u, "measured_at": at}
            for n, (v, u, at) in previous.items()
            if n in names
        ]
        if kept:
            await conn.execute(insert(BaselineRow), kept)


async def api_latencies(engine: AsyncEngine, *, since: datetime, limit: int) -> list[float]:
    """Return the latencies (s) of at most `limit` API answers recorded since `since`."""
    stmt = (
        select(AuditLogRow.latency_s)
        .where(AuditLogRow.created_at >= since, AuditLogRow.latency_s.is_not(None))
        .order_by(AuditLogRow.created_at.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return [float(v) for v in (await conn.execute(stmt)).scalars() if v is not None]


def established(stored: Stored) -> PerformanceBaseline | None:
    """Return the baseline ``performance.baseline`` last established, or None."""
    targets = sorted(
        name.removeprefix("db_latency_samples:")
        for name in stored
        if name.startswith("db_latency_samples:")
    )
    if not targets:
        return None

    def read(names: list[str], samples: str) -> LatencyPercentiles | None:
        if samples not in stored or not stored[samples][0] or any(n not in stored for n in names):
            return None  # never established, or established from no samples
        p50, p95, p99 = (stored[n][0] for n in names)
        return LatencyPercentiles(p50_s=p50, p95_s=p95, p99_s=p99, samples=int(stored[samples][0]))

    database = {
        t: found
        for t in targets
        if (found := read([db_percentile_name(p, t) for p in PERCENTILES], db_samples_name(t)))
    }
    return PerformanceBaseline(
        measured_at=max(stored[db_samples_name(t)][2] for t in targets),
        database=database,
        api=read([api_percentile_name(p) for p in PERCENTILES], API_SAMPLES),
    )
