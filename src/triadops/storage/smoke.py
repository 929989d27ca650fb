"""A user's smoke query run on a restored copy: read-only, bounded in time and in rows.

PostgreSQL: a ``READ ONLY`` transaction with ``statement_timeout``. SQLite: the file opened
read-only with ``query_only`` on, interrupted by a progress handler at the deadline. The
query was parsed as one SELECT at load (``settings.smoke_queries``); these are the guarantee.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.storage.dumps import sqlite_file

ROWS = 1000
"""Rows read at most: enough to count against ``expect_min_rows``, never a whole table."""
Row = tuple[object, ...]


async def read_only_query(engine: AsyncEngine, sql: str, *, timeout_s: float) -> list[Row]:
    """Run `sql` read-only under `timeout_s`; its first rows (raises the database's error)."""
    if engine.dialect.name == "sqlite":
        return await asyncio.to_thread(_sqlite, sqlite_file(engine), sql, timeout_s)
    async with engine.connect() as conn, conn.begin():
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
        result = await conn.execute(text(sql))
        rows = [tuple(r) for r in result.fetchmany(ROWS)]
        await conn.rollback()
    return rows


def _sqlite(path: Path, sql: str, timeout_s: float) -> list[Row]:
    deadline = time.monotonic() + timeout_s
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        conn.execute("PRAGMA query_only = ON")
        # A non-zero answer interrupts the statement ("interrupted"), every 1000 VM steps.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        return [tuple(r) for r in conn.execute(sql).fetchmany(ROWS)]
