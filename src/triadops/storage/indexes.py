"""Index upkeep for SQLite and PostgreSQL: count, rebuild, and clear INVALID leftovers.

PostgreSQL 12+ rebuilds one index at a time with ``REINDEX INDEX CONCURRENTLY``, which
takes no lock that blocks reads or writes of the table, but cannot run inside a
transaction block: every statement here runs on an AUTOCOMMIT connection. A concurrent
rebuild or build that fails (a unique violation, a deadlock, a cancel) leaves an INVALID
index behind (``<name>_ccnew``/``<name>_ccold`` from a rebuild, the index's own name from a
failed ``CREATE INDEX CONCURRENTLY``): never used by queries, yet updated on every write.
Those are dropped first, and their definitions reported, so a person can recreate one.
An index a build is working on right now is INVALID too: it is left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import JsonValue
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CONCURRENT_REINDEX_VERSION = 120000
"""``server_version_num`` from which PostgreSQL has ``REINDEX ... CONCURRENTLY``."""
_USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
)


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def _qualified(conn: AsyncConnection, schema: str, name: str) -> str:
    quote = conn.dialect.identifier_preparer.quote_identifier
    return f"{quote(schema)}.{quote(name)}"


async def _count(conn: AsyncConnection) -> int:
    sql = (
        "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
        if conn.dialect.name == "sqlite"
        else "SELECT count(*) FROM pg_indexes"
        " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    return int((await conn.execute(text(sql))).scalar_one())


async def index_count(engine: AsyncEngine) -> int:
    """Return how many indexes the database's user schemas hold."""
    async with _autocommit(engine) as conn:
        return await _count(conn)


async def _invalid(conn: AsyncConnection) -> list[tuple[str, str, str]]:
    """(schema, name, definition) of every INVALID index no build is working on now."""
    building = (
        " AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p"
        " WHERE p.index_relid = c.oid)"
        if await _version(conn) >= CONCURRENT_REINDEX_VERSION
        else ""
    )
    rows = await conn.execute(
        text(
            "SELECT n.nspname, c.relname, pg_get_indexdef(c.oid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE NOT i.indisvalid AND {_USER_SCHEMAS}{building}"
            " ORDER BY n.nspname, c.relname"
        )
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def _version(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SHOW server_version_num"))).scalar_one())


async def invalid_indexes(engine: AsyncEngine) -> list[dict[str, JsonValue]]:
    """Return the INVALID indexes a failed concurrent build left (none on SQLite)."""
    if engine.dialect.name == "sqlite":
        return []
    async with _autocommit(engine) as conn:
        return [
            {"index": f"{schema}.{name}", "definition": definition}
            for schema, name, definition in await _invalid(conn)
        ]


async def _drop_invalid(conn: AsyncConnection) -> list[JsonValue]:
    dropped: list[JsonValue] = []
    for schema, name, definition in await _invalid(conn):
        await conn.execute(
            text(f"DROP INDEX CONCURRENTLY IF EXISTS {_qualified(conn, schema, name)}")
        )
        dropped.append({"index": f"{schema}.{name}", "definition": definition})
    return dropped


async def _rebuildable(conn: AsyncConnection) -> list[tuple[str, str]]:
    """Valid plain indexes of user tables, but not exclusion constraints' (never concurrent)."""
    rows = await conn.execute(
        text(
            "SELECT n.nspname, c.relname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            f" WHERE i.indisvalid AND c.relkind = 'i' AND {_USER_SCHEMAS}"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint x"
            " WHERE x.conindid = c.oid AND x.contype = 'x')"
            " ORDER BY n.nspname, c.relname"
        )
    )
    return [(str(r[0]), str(r[1])) for r in rows]


async def reindex(engine: AsyncEngine) -> dict[str, JsonValue]:
    """Rebuild the database's indexes; return how, how many, and the INVALID ones dropped.

    SQLite: ``REINDEX``. PostgreSQL 12+: INVALID leftovers dropped, then each index rebuilt
    with ``REINDEX INDEX CONCURRENTLY``; a rebuild that fails has its own leftover dropped
    before the error is raised. Older PostgreSQL: ``REINDEX DATABASE`` (it locks each table).
    """
    async with _autocommit(engine) as conn:
        if conn.dialect.name == "sqlite":
            count = await _count(conn)
            await conn.execute(text("REINDEX"))
            return {"method": "REINDEX", "indexes": count, "dropped_invalid": []}
        if await _version(conn) < CONCURRENT_REINDEX_VERSION:
            count = await _count(conn)
            name = str((await conn.execute(text("SELECT current_database()"))).scalar_one())
            quoted = conn.dialect.identifier_preparer.quote_identifier(name)
            await conn.execute(text(f"REINDEX DATABASE {quoted}"))
            return {"method": "REINDEX DATABASE", "indexes": count, "dropped_invalid": []}
        dropped = await _drop_invalid(conn)
        rebuilt = 0
        for schema, name in await _rebuildable(conn):
            try:
                await conn.execute(
                    text(f"REINDEX INDEX CONCURRENTLY {_qualified(conn, schema, name)}")
                )
            except DBAPIError:
                await _drop_invalid(conn)  # the failed rebuild's _ccnew, before raising
                raise
            rebuilt += 1
    return {
        "method": "REINDEX INDEX CONCURRENTLY",
        "indexes": rebuilt,
        "dropped_invalid": dropped,
    }
