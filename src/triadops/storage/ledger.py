"""Ledger queries: lock the head, append links, read the chain back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import Base, LedgerHeadRow, LedgerRow

LEDGER_TABLE = Base.metadata.tables["ledger"]


class Link(NamedTuple):
    """One link read as plain columns: what a walk over the whole chain needs, cheaply."""

    seq: int
    at: datetime
    actor: str
    event: str
    operation_id: str | None
    from_status: str | None
    to_status: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


_LINK_COLUMNS = (
    LedgerRow.seq,
    LedgerRow.at,
    LedgerRow.actor,
    LedgerRow.event,
    LedgerRow.operation_id,
    LedgerRow.from_status,
    LedgerRow.to_status,
    LedgerRow.details,
    LedgerRow.prev_hash,
    LedgerRow.hash,
)


def entry_body(row: LedgerRow | Link) -> dict[str, Any]:
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


async def iterate_links(session: AsyncSession, *, batch: int = 5000) -> AsyncIterator[Link]:
    """Yield every link in seq order as plain columns, a keyset batch at a time."""
    stmt = select(*_LINK_COLUMNS).order_by(LedgerRow.seq).limit(batch)
    # Core on the session's connection: the same transaction, without the ORM's result
    # machinery, which costs more than hashing the link.
    conn = await session.connection()
    last = -1
    while True:
        rows = (await conn.execute(stmt.where(LedgerRow.seq > last))).all()
        for row in rows:
            yield Link._make(row)
        if len(rows) < batch:
            return
        last = rows[-1][0]


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
