"""The web console's sessions: add, find by the hash of their id, end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import ConsoleSessionRow


def add_session(
    session: AsyncSession, *, id_hash: str, token_name: str, now: datetime, expires_at: datetime
) -> ConsoleSessionRow:
    """Add a sign-in; the caller commits."""
    row = ConsoleSessionRow(
        id_hash=id_hash, token_name=token_name, created_at=now, expires_at=expires_at
    )
    session.add(row)
    return row


async def session_with_hash(session: AsyncSession, id_hash: str) -> ConsoleSessionRow | None:
    """Return the sign-in whose id hashes to `id_hash`, expired or not, or None."""
    stmt = select(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == id_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def end_session(session: AsyncSession, id_hash: str) -> None:
    """Remove a sign-in (signing out); the caller commits."""
    await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == id_hash))


async def end_expired(session: AsyncSession, *, now: datetime) -> None:
    """Remove every sign-in past its end; the caller commits."""
    await session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at <= now))
