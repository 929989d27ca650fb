"""Database upkeep and measurement in SQL for SQLite and PostgreSQL.

Upkeep: vacuum, statistics, retention (indexes: `triadops.storage.indexes`). Measurement,
for the checks: row counts of one table, integrity of a database or of named tables,
liveness, round-trip times.

Statements that cannot run inside a transaction block (VACUUM) and the
read-only measurements use AUTOCOMMIT connections, so on SQLite they never take the write
lock that our engine's ``BEGIN IMMEDIATE`` would; retention deletes run as short
transactions, one per batch.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import DateTime, TypeEngine

from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import as_utc

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
APPEND_ONLY_TABLES = frozenset({"ledger", "ledger_head"})
"""The crown's hash chain: rows are only ever inserted, so retention never touches them."""
BOOKKEEPING_TABLES = frozenset({"alembic_version"})


@asynccontextmanager
async def _autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def _is_sqlite(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "sqlite"


def _quote(conn: AsyncConnection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


async def _scalar_int(conn: AsyncConnection, sql: str) -> int:
    return int((await conn.execute(text(sql))).scalar_one())


async def _size(conn: AsyncConnection) -> int:
    if _is_sqlite(conn):
        pages = await _scalar_int(conn, "PRAGMA page_count")
        return pages * await _scalar_int(conn, "PRAGMA page_size")
    return await _scalar_int(conn, "SELECT pg_database_size(current_database())")


async def _user_tables(conn: AsyncConnection) -> list[str]:
    names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return sorted(n for n in names if n not in BOOKKEEPING_TABLES)


async def user_table_names(engine: AsyncEngine) -> list[str]:
    """Return the user tables' names, sorted (not SQLite's own nor alembic_version)."""
    async with _autocommit(engine) as conn:
        return await _user_tables(conn)


async def database_size_bytes(engine: AsyncEngine) -> int:
    """Return the database's size in bytes (SQLite pages in use, PostgreSQL on disk)."""
    async with _autocommit(engine) as conn:
        return await _size(conn)


async def vacuum_analyze(engine: AsyncEngine) -> dict[str, int]:
    """Reclaim space and refresh planner statistics; return sizes before and after in bytes."""
    async with _autocommit(engine) as conn:
        before = await _size(conn)
        if _is_sqlite(conn):
            await conn.execute(text("VACUUM"))
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("VACUUM ANALYZE"))
        after = await _size(conn)
    return {"size_before_bytes": before, "size_after_bytes": after}


async def reset_stats(engine: AsyncEngine) -> dict[str, str | int]:
    """Reset the database's statistics and return what that meant on this dialect.

    PostgreSQL: ``pg_stat_reset()`` zeroes the current database's activity counters,
    among them the live and dead tuple counts autovacuum decides by; the ``ANALYZE`` right
    after gives them back estimates (and the planner fresh statistics).
    SQLite keeps no activity counters; its only statistics are the planner's
    ``sqlite_stat1`` rows, which are discarded and re-collected by ``ANALYZE`` in one
    transaction, so no query ever plans without them.
    """
    if engine.dialect.name != "sqlite":
        async with _autocommit(engine) as conn:
            await conn.execute(text("SELECT pg_stat_reset()"))
            await conn.execute(text("ANALYZE"))
        return {"method": "pg_stat_reset, then ANALYZE"}
    async with engine.begin() as conn:
        if "sqlite_stat1" in await _sqlite_master_tables(conn):
            await conn.execute(text("DELETE FROM sqlite_stat1"))
        await conn.execute(text("ANALYZE"))
        rows = await _scalar_int(conn, "SELECT count(*) FROM sqlite_stat1")
    return {"method": "sqlite_stat1 re-collected", "stat_rows": rows}


async def _sqlite_master_tables(conn: AsyncConnection) -> set[str]:
    rows = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
    return {str(r[0]) for r in rows}


async def _retention_column(conn: AsyncConnection, table: str, column: str) -> TypeEngine[object]:
    """Validate a retention target and return the column's reflected type."""
    for kind, name in (("table", table), ("column", column)):
        if not IDENTIFIER.fullmatch(name):
            raise InvalidRequest(
                f"{kind} name {name!r} is not a plain identifier (letters, digits, _)", field=kind
            )
    if table in APPEND_ONLY_TABLES:
        raise InvalidRequest(
            f"table {table!r} is part of the append-only ledger; its rows are never deleted",
            field="table",
        )
    tables = await _user_tables(conn)
    if table not in tables:
        raise InvalidRequest(f"unknown table {table!r} (known: {', '.join(tables)})", field="table")

    def columns(c: Connection) -> dict[str, TypeEngine[object]]:
        return {col["name"]: col["type"] for col in inspect(c).get_columns(table)}

    found = await conn.run_sync(columns)
    if column not in found:
        known = ", ".join(found)
        raise InvalidRequest(
            f"table {table!r} has no column {column!r} (columns: {known})", field="column"
        )
    if not isinstance(found[column], DateTime):
        raise InvalidRequest(
            f"column {table}.{column} is {found[column]}, not a timestamp", field="column"
        )
    return found[column]


def _cutoff(before: datetime, column_type: TypeEngine[object]) -> datetime:
    # Triad's UTCDateTime keeps naive UTC on SQLite (reflected as a zone-less DATETIME)
    # and timestamptz on PostgreSQL; comparing in UTC with the column's own zone-ness is
    # correct for both, and for other zone-less timestamp columns stored in UTC.
    value = as_utc(before)
    return value if getattr(column_type, "timezone", False) else value.replace(tzinfo=None)


async def count_rows_older_than(
    engine: AsyncEngine, *, table: str, column: str, before: datetime
) -> int:
    """Count the rows of `table` whose `column` is earlier than `before`."""
    async with _autocommit(engine) as conn:
        column_type = await _retention_column(conn, table, column)
        stmt = text(
            f"SELECT count(*) FROM {_quote(conn, table)} WHERE {_quote(conn, column)} < :before"
        ).bindparams(bindparam("before", type_=column_type))
        result = await conn.execute(stmt, {"before": _cutoff(before, column_type)})
        return int(result.scalar_one())


async def purge_rows_older_than(
    engine: AsyncEngine, *, table: str, column: str, before: datetime, batch_size: int
) -> int:
    """Delete the rows of `table` whose `column` is earlier than `before`; return how many.

    Each batch of at most `batch_size` rows is its own transaction, so writers are held
    up for one batch at a time and an interrupted purge keeps what it already deleted.
    """
    if batch_size < 1:
        raise InvalidRequest("batch_size must be at least 1", field="batch_size")
    async with _autocommit(engine) as conn:
        column_type = await _retention_column(conn, table, column)
        row_id = "rowid" if _is_sqlite(conn) else "ctid"
        t, c = _quote(conn, table), _quote(conn, column)
    stmt = text(
        f"DELETE FROM {t} WHERE {row_id} IN (SELECT {row_id} FROM {t} WHERE {c} < :before LIMIT :n)"
    ).bindparams(bindparam("before", type_=column_type))
    cutoff = _cutoff(before, column_type)
    total = 0
    while True:
        async with engine.begin() as conn:
            deleted = (await conn.execute(stmt, {"before": cutoff, "n": batch_size})).rowcount
        total += deleted
        if deleted < batch_size:
            return total


async def table_row_counts(engine: AsyncEngine) -> dict[str, int]:
    """Return the row count of every user table (not SQLite's own nor alembic_version)."""
    async with _autocommit(engine) as conn:
        return {
            name: await _scalar_int(conn, f"SELECT count(*) FROM {_quote(conn, name)}")
            for name in await _user_tables(conn)
        }


async def count_rows(
    engine: AsyncEngine,
    *,
    table: str,
    older_than: tuple[str, datetime] | None = None,
    budget_s: float | None = None,
) -> tuple[int, int | None]:
    """Count the rows of one table and, given (column, before), those older than `before`.

    Reads that one table, whatever else the database holds: a ``count(*)`` and, for the
    age, the column's type and a range count on it (indexed for triad's audit log).
    """
    if not IDENTIFIER.fullmatch(table):
        raise InvalidRequest(f"table name {table!r} is not a plain identifier", field="table")
    async with _autocommit(engine) as conn, _budget(conn, budget_s):
        total = await _scalar_int(conn, f"SELECT count(*) FROM {_quote(conn, table)}")
        if older_than is None:
            return total, None
        column, before = older_than
        column_type = await _retention_column(conn, table, column)
        stmt = text(
            f"SELECT count(*) FROM {_quote(conn, table)} WHERE {_quote(conn, column)} < :before"
        ).bindparams(bindparam("before", type_=column_type))
        result = await conn.execute(stmt, {"before": _cutoff(before, column_type)})
        return total, int(result.scalar_one())


async def round_trips_s(engine: AsyncEngine, *, samples: int) -> list[float]:
    """Time `samples` round trips of ``SELECT 1`` on one connection, in seconds.

    One untimed round trip goes first, so opening a connection is not timed.
    """
    timings: list[float] = []
    async with _autocommit(engine) as conn:
        await conn.execute(text("SELECT 1"))
        for _ in range(max(1, samples)):
            start = time.perf_counter()
            await conn.execute(text("SELECT 1"))
            timings.append(time.perf_counter() - start)
    return timings


def _missing_file(engine: AsyncEngine) -> str | None:
    path = engine.url.database
    if engine.dialect.name == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        # A pooled connection keeps reading an unlinked file, and a new one would
        # silently create an empty database: look for the file itself.
        return f"database file {path} is missing"
    return None


async def answers(engine: AsyncEngine) -> tuple[bool, str]:
    """Tell whether the database answers one cheap query, with one line saying why not."""
    missing = _missing_file(engine)
    if missing is not None:
        return False, missing
    try:
        async with _autocommit(engine) as conn:
            if _is_sqlite(conn):
                await conn.execute(text("SELECT 1"))
                return True, "answers"
            standby = bool((await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one())
            return True, "answers (standby)" if standby else "answers (primary)"
    except (SQLAlchemyError, OSError) as exc:
        return False, str(exc).splitlines()[0]


async def integrity_ok(
    engine: AsyncEngine,
    *,
    tables: Collection[str] | None = None,
    budget_s: float | None = None,
) -> tuple[bool, str]:
    """Tell whether the database (or only `tables` and their indexes) is sound, and why not.

    SQLite: ``PRAGMA quick_check``, per table when tables are named. PostgreSQL: amcheck's
    heap and B-tree checks when an administrator installed the extension (triadops never
    installs it); without it, only that the server answers.
    """
    missing = _missing_file(engine)
    if missing is not None:
        return False, missing
    names = sorted(tables) if tables is not None else None
    for name in names or ():
        if not IDENTIFIER.fullmatch(name):
            return False, f"table name {name!r} is not a plain identifier"
    try:
        async with _autocommit(engine) as conn, _budget(conn, budget_s):
            if _is_sqlite(conn):
                return await _sqlite_quick_check(conn, names)
            return await _pg_check(conn, names)
    except TimeoutError as exc:
        return False, str(exc)
    except (SQLAlchemyError, OSError) as exc:
        return False, str(exc).splitlines()[0]


async def _sqlite_quick_check(conn: AsyncConnection, names: list[str] | None) -> tuple[bool, str]:
    pragmas = (
        ["PRAGMA quick_check"]
        if names is None
        else [f"PRAGMA quick_check({_quote(conn, n)})" for n in names]
    )
    for pragma in pragmas:
        problems = [str(r[0]) for r in await conn.execute(text(pragma))]
        if problems != ["ok"]:
            return False, "quick_check: " + "; ".join(problems[:3])
    return True, "quick_check ok" if names is None else f"quick_check ok on {', '.join(names)}"


async def _pg_check(conn: AsyncConnection, names: list[str] | None) -> tuple[bool, str]:
    standby = bool((await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar_one())
    role = "standby" if standby else "primary"
    amcheck = "SELECT count(*) FROM pg_extension WHERE extname = 'amcheck'"
    if not await _scalar_int(conn, amcheck):
        if names is None:
            return True, f"connected ({role})"
        return True, f"connected ({role}); amcheck is not installed, pages not verified"
    whole = names is None
    names = await _user_tables(conn) if names is None else names
    for name in names:
        heap = await conn.execute(
            text("SELECT msg FROM verify_heapam(CAST(:t AS regclass)) LIMIT 3"), {"t": name}
        )
        problems = [str(r[0]) for r in heap]
        if problems:
            return False, f"amcheck: {name}: " + "; ".join(problems)
        await conn.execute(
            text(
                "SELECT bt_index_check(i.indexrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                " WHERE i.indrelid = CAST(:t AS regclass) AND a.amname = 'btree'"
            ),
            {"t": name},
        )
    scope = f"all {len(names)} tables" if whole else ", ".join(names)
    return True, f"amcheck ok on {scope} ({role})"


@asynccontextmanager
async def _budget(conn: AsyncConnection, seconds: float | None) -> AsyncIterator[None]:
    """Have the database itself stop the statements inside once `seconds` have passed.

    Cancelling the awaiting task alone would leave SQLite's thread or PostgreSQL's backend
    working on. PostgreSQL: ``statement_timeout`` for this connection, reset after; SQLite:
    ``sqlite3_interrupt`` at the deadline, which stops counts and integrity checks too.
    """
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    timer: asyncio.TimerHandle | None = None
    if _is_sqlite(conn):
        driver = (await conn.get_raw_connection()).driver_connection
        timer = asyncio.get_running_loop().call_later(seconds, _interrupt, driver)
    else:
        await conn.execute(text(f"SET statement_timeout = {max(1, int(seconds * 1000))}"))
    try:
        yield
    except SQLAlchemyError:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stopped at its {seconds:g} s budget") from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        else:
            await conn.execute(text("RESET statement_timeout"))


_INTERRUPTS: set[asyncio.Task[None]] = set()


def _interrupt(driver: Any) -> None:
    """Interrupt what an aiosqlite connection is running (``sqlite3_interrupt``: any thread).

    A statement that starts after it ran is not affected, so a late timer is harmless.
    """
    task = asyncio.get_running_loop().create_task(driver.interrupt())
    _INTERRUPTS.add(task)  # the loop keeps only a weak reference to tasks
    task.add_done_callback(_INTERRUPTS.discard)
