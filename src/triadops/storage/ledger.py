"""Ledger queries: lock the head, append links, read the chain back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias, cast

import aiosqlite
from sqlalchemy import Text, func, insert, null, select, update
from sqlalchemy import cast as cast_as
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import Base, LedgerHeadRow, LedgerRow

LEDGER_TABLE = Base.metadata.tables["ledger"]


StoredLink: TypeAlias = tuple[
    int, str | datetime, str, str, str | None, str | None, str | None, Any, str, str, str | None
]
"""One link as a walk over the chain reads it: a plain tuple, since such a walk touches many.

In order: seq, at (as stored: text on SQLite, a datetime on PostgreSQL), actor, event,
operation_id, from_status, to_status, details (the stored JSON text, for the walk to decode
once; on SQLite a top-level number comes back as a number), prev_hash, hash, and at_text:
the text the hash covers for `at` when the query could render it (SQLite, the usual shape),
else None and :func:`hashed_at` renders it.
"""


def entry_body(row: LedgerRow) -> dict[str, Any]:
    """Return the fields a link's hash covers, exactly as they were hashed."""
    return {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "event": row.event,
        "operation_id": row.operation_id,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "details": row.details,
    }


def hashed_at(stored: str | datetime) -> str | None:
    """Return a link's stored `at` as the text its hash covers (``at.isoformat()``).

    Read as SQLAlchemy reads it (``UTCDateTime``: aware, in UTC). None when the stored
    value is no timestamp at all (no writer stored it).
    """
    if isinstance(stored, str):
        try:
            stored = datetime.fromisoformat(stored)
        except ValueError:
            return None
    if not isinstance(stored, datetime):
        return None
    aware = stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
    return aware.isoformat()


async def lock_head(session: AsyncSession) -> tuple[int, str]:
    """Return the tip (seq, hash), locking it until the transaction ends.

    On PostgreSQL the row lock serialises appends across workers; on SQLite the
    transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    stmt = select(LedgerHeadRow.seq, LedgerHeadRow.hash).where(LedgerHeadRow.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).one()
    return row.seq, row.hash


async def append_links(session: AsyncSession, links: Sequence[dict[str, Any]]) -> None:
    """Insert already-hashed links and move the head to the last one."""
    # Core, not the ORM bulk path: the ORM splits rows whose None columns differ into
    # separate statements, and a chain of alternating events would become one per entry.
    await session.execute(insert(LEDGER_TABLE), list(links))
    last = links[-1]
    await session.execute(
        update(LedgerHeadRow)
        .where(LedgerHeadRow.id == 1)
        .values(seq=last["seq"], hash=last["hash"])
    )


async def head(session: AsyncSession) -> tuple[int, str]:
    """Return the tip (seq, hash) without locking."""
    row = (await session.execute(select(LedgerHeadRow.seq, LedgerHeadRow.hash))).one()
    return row.seq, row.hash


async def iterate_link_batches(
    session: AsyncSession, *, batch: int = 250
) -> AsyncGenerator[list[StoredLink], None]:
    """Yield every link in seq order, a keyset batch at a time; use it under ``aclosing``.

    The next batch is read while the caller checks this one; waiting for it gives the
    event loop a turn.
    """
    fetch = await _link_reader(session, batch)
    pending = asyncio.ensure_future(fetch(None))
    try:
        while True:
            links = await pending
            full = len(links) == batch
            if full:
                pending = asyncio.ensure_future(fetch(links[-1][0]))
            yield links
            if not full:
                return
    finally:
        # Never abandon a read on the session's connection: let it finish first.
        if not pending.done():
            with contextlib.suppress(Exception):
                await pending


_SQLITE_AT = (
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
    ".[0-9][0-9][0-9][0-9][0-9][0-9]"
)
"""How SQLAlchemy writes a DATETIME to SQLite (naive UTC, microseconds), as a GLOB."""

_SQLITE_LINKS = (
    "SELECT seq, at, actor, event, operation_id, from_status, to_status, details, prev_hash,"
    " hash,"
    # at_text: what at.isoformat() prints once read back (aware UTC: +00:00, no fraction
    # on a whole second), made by SQLite in the driver's thread rather than parsed here.
    f" CASE WHEN typeof(at) = 'text' AND at GLOB '{_SQLITE_AT}' THEN"
    " substr(at, 1, 10) || 'T' || substr(at, 12, 8)"
    " || CASE WHEN substr(at, 20) = '.000000' THEN '' ELSE substr(at, 20) END || '+00:00'"
    " END"
    " FROM ledger {where} ORDER BY seq LIMIT ?"
)
_SQLITE_FIRST_LINKS = _SQLITE_LINKS.format(where="")
_SQLITE_NEXT_LINKS = _SQLITE_LINKS.format(where="WHERE seq > ?")


async def _link_reader(
    session: AsyncSession, batch: int
) -> Callable[[int | None], Awaitable[list[StoredLink]]]:
    """Return a reader of the `batch` links after a seq (None: the first), in the session."""
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        # The driver's own cursor: rows arrive as the tuples sqlite3 builds, with no
        # SQLAlchemy rows or type processing, which cost more than checking the link.
        raw = await conn.get_raw_connection()
        driver = cast(aiosqlite.Connection, raw.driver_connection)

        async def read_sqlite(after: int | None) -> list[StoredLink]:
            if after is None:
                rows = await driver.execute_fetchall(_SQLITE_FIRST_LINKS, (batch,))
            else:
                rows = await driver.execute_fetchall(_SQLITE_NEXT_LINKS, (after, batch))
            return cast(list[StoredLink], list(rows))

        return read_sqlite
    stmt = (
        select(
            LedgerRow.seq,
            LedgerRow.at,
            LedgerRow.actor,
            LedgerRow.event,
            LedgerRow.operation_id,
            LedgerRow.from_status,
            LedgerRow.to_status,
            cast_as(LedgerRow.details, Text),  # the text, decoded once by the walk
            LedgerRow.prev_hash,
            LedgerRow.hash,
            null(),  # at_text: hashed_at renders the datetime
        )
        .order_by(LedgerRow.seq)
        .limit(batch)
    )

    async def read(after: int | None) -> list[StoredLink]:
        page = stmt if after is None else stmt.where(LedgerRow.seq > after)
        rows = (await conn.execute(page)).all()
        return [cast(StoredLink, tuple(row)) for row in rows]

    return read


async def select_operation_entries(session: AsyncSession, operation_id: str) -> list[LedgerRow]:
    """Return one operation's links in seq order."""
    stmt = select(LedgerRow).where(LedgerRow.operation_id == operation_id).order_by(LedgerRow.seq)
    return list((await session.execute(stmt)).scalars().all())


async def select_entries(
    session: AsyncSession, *, operation_id: str | None = None, limit: int = 100
) -> list[LedgerRow]:
    """Return the newest links (optionally of one operation), oldest first."""
    stmt = select(LedgerRow).order_by(LedgerRow.seq.desc()).limit(limit)
    if operation_id is not None:
        stmt = stmt.where(LedgerRow.operation_id == operation_id)
    return list(reversed((await session.execute(stmt)).scalars().all()))


async def count_entries(session: AsyncSession) -> int:
    """Return how many links the table holds."""
    return int((await session.execute(select(func.count()).select_from(LedgerRow))).scalar_one())


async def operation_span(session: AsyncSession, operation_id: str) -> tuple[int, int] | None:
    """Return the first and last seq of one subject's entries (by its index), or None."""
    stmt = select(func.min(LedgerRow.seq), func.max(LedgerRow.seq)).where(
        LedgerRow.operation_id == operation_id
    )
    first, last = (await session.execute(stmt)).one()
    return None if first is None else (int(first), int(last))


async def select_range(
    session: AsyncSession, *, first: int, last: int, batch: int = 1000
) -> AsyncGenerator[list[dict[str, Any]], None]:
    """Yield the links from `first` to `last` in seq order, a keyset batch at a time.

    Each as the body its hash covers (:func:`entry_body`) with its ``prev_hash`` and
    ``hash``; the rows are let go as they are read, so a long segment is never all held.
    """
    after = first - 1
    while after < last:
        stmt = (
            select(LedgerRow)
            .where(LedgerRow.seq > after, LedgerRow.seq <= last)
            .order_by(LedgerRow.seq)
            .limit(batch)
        )
        rows = list((await session.execute(stmt)).scalars().all())
        if not rows:
            return
        links = []
        for row in rows:
            links.append({**entry_body(row), "prev_hash": row.prev_hash, "hash": row.hash})
            session.expunge(row)
        yield links
        after = rows[-1].seq
