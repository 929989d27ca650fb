"""Named leases: one holder at a time, taken over only once the holder lets it expire.

The monitoring loop's leader holds ``monitor``: the statement that takes or renews the lease
is the gate, so two workers can never both believe they lead (on PostgreSQL the UPDATE locks
the row; on SQLite the transaction holds the write lock).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import LeaderLeaseRow


async def hold(
    session: AsyncSession, *, name: str, holder: str, now: datetime, ttl_s: float
) -> bool:
    """Take or renew the lease `name` for `holder` until ``now + ttl_s``; the caller commits.

    True when `holder` holds it afterwards: it held it already, it was free, or its
    holder let it expire. False while another holder's lease runs.
    """
    until = now + timedelta(seconds=ttl_s)
    taken = await session.execute(
        update(LeaderLeaseRow)
        .where(
            LeaderLeaseRow.name == name,
            (LeaderLeaseRow.holder == holder) | (LeaderLeaseRow.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
    )
    if getattr(taken, "rowcount", 0):
        return True
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = await session.execute(
        insert(LeaderLeaseRow)
        .values(name=name, holder=holder, expires_at=until)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return bool(getattr(created, "rowcount", 0))


async def release(session: AsyncSession, *, name: str, holder: str, now: datetime) -> None:
    """Let the lease go now, if `holder` holds it (a clean shutdown); the caller commits."""
    await session.execute(
        update(LeaderLeaseRow)
        .where(LeaderLeaseRow.name == name, LeaderLeaseRow.holder == holder)
        .values(expires_at=now)
    )
