"""Silences as the database keeps them: the lock around silencing, and their reads.

Silences are read by ``(expired_at, ends_at)``, by operation, or by their time-ordered id,
so a read's cost follows the silences in force, not their history. Writes only flush; the
caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.errors import NotFound
from triadops.storage.tables import SilenceRow


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


SILENCE_LOCK = 0x7472_6961_6473_696C
"""PostgreSQL advisory lock key taken around silencing (``triadsil``)."""


async def share_silences(session: AsyncSession) -> None:
    """Keep silences from being added or expired until this transaction ends.

    Ingest takes this before reading the silences, and adding or expiring one takes
    :func:`lock_silences` before muting, so of an alert and a silence made at the same time
    one always sees the other. PostgreSQL only: SQLite has one writer at a time.
    """
    if _postgres(session):
        await session.execute(select(func.pg_advisory_xact_lock_shared(SILENCE_LOCK)))


async def silences_in_force(session: AsyncSession, *, now: datetime) -> tuple[str, ...]:
    """Return the ids of the silences in force at `now`, in order: cheap, no matchers read.

    A silence's matchers never change and its end only moves when it is closed (then it is
    no longer in force), so the ids say whether the set in force is the one matched against.
    """
    stmt = select(SilenceRow.id).where(
        SilenceRow.expired_at.is_(None), SilenceRow.ends_at > now, SilenceRow.starts_at <= now
    )
    return tuple((await session.execute(stmt.order_by(SilenceRow.id))).scalars().all())


async def ended_silence_ids(session: AsyncSession, *, now: datetime) -> list[str]:
    """Return the ids of the unexpired silences whose end has passed (read, no lock)."""
    stmt = select(SilenceRow.id).where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at <= now)
    return list((await session.execute(stmt)).scalars().all())


async def lock_silences(session: AsyncSession) -> None:
    """Wait for ingests in flight, and hold new ones off, until this transaction ends."""
    if _postgres(session):
        await session.execute(select(func.pg_advisory_xact_lock(SILENCE_LOCK)))


def add_silence_row(session: AsyncSession, **fields: Any) -> SilenceRow:
    """Add a silence to the session; it is written at the next flush."""
    row = SilenceRow(**fields)
    session.add(row)
    return row


async def active_silences(session: AsyncSession, *, now: datetime) -> list[SilenceRow]:
    """Return the silences in force at `now` (started, not ended, not expired)."""
    stmt = select(SilenceRow).where(
        SilenceRow.expired_at.is_(None), SilenceRow.ends_at > now, SilenceRow.starts_at <= now
    )
    return list((await session.execute(stmt.order_by(SilenceRow.id))).scalars().all())


async def get_silence(
    session: AsyncSession, silence_id: str, *, for_update: bool = False
) -> SilenceRow:
    """Return the silence, locked on PostgreSQL when `for_update`; NotFound when absent."""
    stmt = select(SilenceRow).where(SilenceRow.id == silence_id)
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no silence {silence_id!r}", field="silence_id")
    return row


async def ended_silences(session: AsyncSession, *, now: datetime) -> list[SilenceRow]:
    """Return (and lock, on PostgreSQL) unexpired silences whose end has passed."""
    stmt = select(SilenceRow).where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at <= now)
    stmt = stmt.order_by(SilenceRow.id)
    if _postgres(session):
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars().all())


async def list_silences(
    session: AsyncSession, *, now: datetime, active_only: bool, limit: int
) -> list[SilenceRow]:
    """Return silences newest first: those in force, or all (ids are time-ordered)."""
    stmt = select(SilenceRow)
    if active_only:
        stmt = stmt.where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at > now)
    stmt = stmt.order_by(SilenceRow.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


class StoredSilence(NamedTuple):
    """The columns of a silence that the ledger vouches for."""

    id: str
    matchers: Any
    created_by: str
    ends_at: datetime
    expired_by: str | None
    expired: bool
    operation_id: str | None
    starts_at: datetime


async def iterate_stored_silences(
    session: AsyncSession, *, batch: int = 500
) -> AsyncIterator[list[StoredSilence]]:
    """Yield every silence in id order, a batch at a time, as plain tuples."""
    conn = await session.connection()
    low: str | None = None
    while True:
        stmt = (
            select(
                SilenceRow.id,
                SilenceRow.matchers,
                SilenceRow.created_by,
                SilenceRow.ends_at,
                SilenceRow.expired_by,
                SilenceRow.expired_at.is_not(None),
                SilenceRow.operation_id,
                SilenceRow.starts_at,
            )
            .order_by(SilenceRow.id)
            .limit(batch)
        )
        if low is not None:
            stmt = stmt.where(SilenceRow.id > low)
        rows = [StoredSilence._make(r) for r in (await conn.execute(stmt)).all()]
        if rows:
            yield rows
        if len(rows) < batch:
            return
        low = rows[-1].id
