"""Database copies for backups: SQLite's online backup, PostgreSQL snapshots and scratch databases.

The processes (``pg_dump``, ``pg_restore``) run in ``actions``; here is the SQL around them:
the snapshot a dump is taken from and its row counts, the scratch database a recovery test
restores into, and the checks run on a restored copy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from triadops.domain.errors import InvalidRequest
from triadops.storage.maintenance import BOOKKEEPING_TABLES, _quote, _user_tables

__all__ = [
    "PgSnapshot",
    "create_database",
    "drop_database",
    "libpq_params",
    "pg_server_version",
    "pg_snapshot",
    "sqlite_backup",
    "sqlite_counts",
    "sqlite_file",
    "sqlite_integrity",
]


def sqlite_file(engine: AsyncEngine) -> Path:
    """The file a SQLite engine opens; refuse an in-memory database."""
    name = engine.url.database
    if not name or name == ":memory:":
        raise InvalidRequest("an in-memory SQLite database cannot be backed up", field="target")
    return Path(name)


def sqlite_backup(source: Path, dest: Path, *, pages: int = 0, synced: bool = True) -> str:
    """Copy `source` into `dest` through SQLite's online backup API; return SQLite's version.

    Blocking: call it in a thread. It reads only (WAL readers never block the writer).
    `pages` 0 copies in one step (one snapshot); N pages per step restarts by itself when
    another connection writes to `source` meanwhile. Not `synced`, SQLite leaves the copy
    to the page cache (``synchronous=OFF``): for a caller that fsyncs it itself, beside
    other work, before it counts as written.
    """
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(dest)) as dst,
    ):
        if not synced:
            dst.execute("PRAGMA synchronous=OFF")
        src.backup(dst, pages=pages or -1)
        # A copy that is one file: no journal or WAL beside it, whatever the source used.
        dst.execute("PRAGMA journal_mode=DELETE")
    return sqlite3.sqlite_version


def sqlite_counts(path: Path) -> dict[str, int]:
    """Rows per table of the SQLite file at `path` (not SQLite's own, nor alembic_version)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: int(conn.execute(f"SELECT count(*) FROM {_sqlite_quoted(name)}").fetchone()[0])
            for name in sorted(names)
            if name not in BOOKKEEPING_TABLES
        }


def _sqlite_quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check`` on the file at `path`: an empty list when it is sound."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        found = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    return [] if found == ["ok"] else found


@dataclass(frozen=True, slots=True)
class PgSnapshot:
    """An exported PostgreSQL snapshot, held open while the block runs."""

    name: str
    """For ``pg_dump --snapshot``: the dump sees exactly the rows this snapshot holds."""
    server_version_num: int
    conn: AsyncConnection
    """The transaction that exported it (busy while `count_rows` runs)."""

    async def count_rows(self) -> dict[str, int]:
        """Rows per user table, as the snapshot holds them (the dump's counts exactly)."""
        conn = self.conn
        counts = {}
        for table in await _user_tables(conn):
            query = text(f"SELECT count(*) FROM {_quote(conn, table)}")
            counts[table] = int((await conn.execute(query)).scalar_one())
        return counts


@asynccontextmanager
async def pg_snapshot(engine: AsyncEngine) -> AsyncIterator[PgSnapshot]:
    """Export a snapshot; it lives, and its rows can be counted, until the block ends."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            name = str((await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one())
            version = int((await conn.execute(text("SHOW server_version_num"))).scalar_one())
            yield PgSnapshot(name=name, server_version_num=version, conn=conn)


async def pg_server_version(engine: AsyncEngine) -> int:
    """The server's ``server_version_num`` (150020 for 15.20)."""
    async with engine.connect() as conn:
        return int((await conn.execute(text("SHOW server_version_num"))).scalar_one())


def libpq_params(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump/pg_restore from `url`; the password goes in the env."""
    argv: list[str] = []
    if url.host:
        argv += ["--host", url.host]
    if url.port:
        argv += ["--port", str(url.port)]
    if url.username:
        argv += ["--username", url.username]
    env = {"PGPASSWORD": url.password} if url.password else {}
    return argv, env


async def create_database(engine: AsyncEngine, name: str) -> None:
    """Create an empty database `name` on `engine`'s server (a recovery test's scratch)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE DATABASE {_quote(conn, name)}"))


async def drop_database(engine: AsyncEngine, name: str) -> None:
    """Drop database `name`, ending any session still in it (PostgreSQL 13+ ``FORCE``)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"DROP DATABASE IF EXISTS {_quote(conn, name)} WITH (FORCE)"))
