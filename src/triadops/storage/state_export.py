"""Triad's own state exported as JSON lines, one file per table, from one read snapshot.

The ``system_state`` backup: operations (with their steps and approvals), alerts and
silences, health reports, and the ledger with its head, all read in one transaction that
takes no write lock (SQLite: a deferred BEGIN in WAL mode; PostgreSQL: REPEATABLE READ,
READ ONLY), so the exports agree with each other and the chain ends at the exported head.
Rows are streamed in batches and written as they come; each file is one JSON object a line.

The ledger is exported as its links are walked (``storage.ledger``): ``details_json`` is the
stored JSON text and ``at`` the text the hash covers, so a recovery test can check the
chain exactly as ``triad audit verify`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from triadops.storage import ledger
from triadops.storage.engine import READ_ONLY
from triadops.storage.tables import (
    AlertRow,
    ApprovalRow,
    Base,
    HealthReportRow,
    LedgerHeadRow,
    OperationRow,
    SilenceRow,
    StepRow,
)

LEDGER = "ledger"
EXPORTED: tuple[type[Base], ...] = (
    OperationRow,
    StepRow,
    ApprovalRow,
    AlertRow,
    SilenceRow,
    HealthReportRow,
    LedgerHeadRow,
)
"""The tables exported row by row, besides the ledger."""
TABLES = tuple(sorted([LEDGER, *(t.__tablename__ for t in EXPORTED)]))
"""Every export's name (``<name>.jsonl``)."""
BATCH = 500
LINK_FIELDS = (
    "seq",
    "at",
    "actor",
    "event",
    "operation_id",
    "from_status",
    "to_status",
    "details_json",
    "prev_hash",
    "hash",
)
"""A ledger export line's keys, in a stored link's order (``at`` is the hashed text)."""


def export_name(table: str) -> str:
    """The file an export is written to."""
    return f"{table}.jsonl"


@asynccontextmanager
async def read_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in one read-only transaction: every read sees the same state."""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = await conn.execution_options(**{READ_ONLY: True})
        else:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            if conn.dialect.name != "sqlite":
                await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn


def _line(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, default=str, option=orjson.OPT_APPEND_NEWLINE)


async def _write(f: BinaryIO, lines: list[bytes]) -> None:
    await asyncio.to_thread(f.write, b"".join(lines))


async def _export_table(conn: AsyncConnection, table: type[Base], f: BinaryIO) -> int:
    count = 0
    columns = list(table.__table__.columns)
    order = [c for c in columns if c.primary_key]
    result = await conn.stream(select(*columns).order_by(*order))
    async for rows in result.partitions(BATCH):
        await _write(f, [_line(dict(r._mapping)) for r in rows])
        count += len(rows)
    return count


async def _export_ledger(conn: AsyncConnection, f: BinaryIO) -> int:
    count = 0
    async with AsyncSession(bind=conn) as session:
        batches = ledger.iterate_link_batches(session, batch=BATCH)
        async with aclosing(batches) as links:
            async for batch in links:
                lines = []
                for link in batch:
                    values = list(link[:10])
                    values[1] = link[10] or ledger.hashed_at(link[1])
                    lines.append(_line(dict(zip(LINK_FIELDS, values, strict=True))))
                await _write(f, lines)
                count += len(batch)
    return count


async def export_state(engine: AsyncEngine, folder: Path) -> dict[str, int]:
    """Write every export into `folder` from one snapshot; return the rows of each."""
    counts: dict[str, int] = {}
    async with read_snapshot(engine) as conn:
        for table in EXPORTED:
            name = table.__tablename__
            with (folder / export_name(name)).open("wb") as f:
                counts[name] = await _export_table(conn, table, f)
        with (folder / export_name(LEDGER)).open("wb") as f:
            counts[LEDGER] = await _export_ledger(conn, f)
    return counts
