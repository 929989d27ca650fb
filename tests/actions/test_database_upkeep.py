"""Database maintenance done right: real VACUUM, index rebuilds and statistics on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.actions.conftest import action_context
from tests.actions.test_database import add_audit_logs, pg_scalar
from triadops.actions.base import ActionContext
from triadops.actions.database import (
    ReindexAction,
    ResetStatsAction,
    TargetParams,
    VacuumAnalyzeAction,
)
from triadops.runtime import Runtime
from triadops.storage import indexes, maintenance
from triadops.storage.tables import AuditLogRow

ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""What only SQLite has: a file whose size shows a VACUUM, a whole-database REINDEX."""
ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
"""What only PostgreSQL has: pg_stat_user_tables, INVALID indexes of concurrent builds."""

LAST = "SELECT coalesce({column}, 'epoch') FROM pg_stat_user_tables WHERE relname = 'audit_logs'"


@pytest.fixture
def ctx(runtime: Runtime) -> ActionContext:
    return action_context(runtime.settings, runtime.databases)


async def eventually(read: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    """Read until `ok` holds: PostgreSQL publishes its statistics a moment after the work."""
    for _ in range(100):
        value = await read()
        if ok(value):
            return value
        await asyncio.sleep(0.05)
    return value


@ONLY_SQLITE
async def test_sqlite_file_shrinks_after_deletes_and_vacuum(
    runtime: Runtime, ctx: ActionContext
) -> None:
    await add_audit_logs(runtime, count=1500, age=timedelta(days=40), size=1000)
    path = Path(str(runtime.engine.url.database))
    await checkpoint(runtime.engine)
    grown = path.stat().st_size
    assert grown > 1500 * 1000
    async with runtime.session() as session:
        await session.execute(AuditLogRow.__table__.delete())
        await session.commit()
    await checkpoint(runtime.engine)
    assert path.stat().st_size == grown  # deleting frees pages, not the file's bytes

    await VacuumAnalyzeAction().run(ctx, TargetParams())

    await checkpoint(runtime.engine)
    assert path.stat().st_size < grown / 4


async def checkpoint(engine: AsyncEngine) -> None:
    """Write the WAL back into the main file, so its size is the database's."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


@ONLY_POSTGRES
async def test_postgres_vacuum_analyze_moves_last_vacuum_and_last_analyze(
    runtime: Runtime, ctx: ActionContext
) -> None:
    engine = runtime.engine
    await add_audit_logs(runtime, count=50, age=timedelta(days=1))
    vacuum_before = await pg_scalar(engine, LAST.format(column="last_vacuum"))
    analyze_before = await pg_scalar(engine, LAST.format(column="last_analyze"))

    await VacuumAnalyzeAction().run(ctx, TargetParams())

    vacuumed = await eventually(
        lambda: pg_scalar(engine, LAST.format(column="last_vacuum")),
        lambda v: v > vacuum_before,
    )
    analyzed = await eventually(
        lambda: pg_scalar(engine, LAST.format(column="last_analyze")),
        lambda v: v > analyze_before,
    )
    assert vacuumed > vacuum_before
    assert analyzed > analyze_before


async def make_invalid_index(engine: AsyncEngine) -> None:
    """Leave an INVALID index: a concurrent unique build that fails on duplicates."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        # A table of its own: the fixture then rebuilds the database for the next test.
        await conn.execute(text("CREATE TABLE upkeep_probe (v integer)"))
        await conn.execute(text("INSERT INTO upkeep_probe VALUES (1), (1), (2)"))
        with pytest.raises(DBAPIError, match=r"unique|duplicate"):
            await conn.execute(
                text("CREATE UNIQUE INDEX CONCURRENTLY ix_probe ON upkeep_probe (v)")
            )


@ONLY_POSTGRES
async def test_postgres_invalid_index_is_found_and_dropped_before_the_rebuild(
    runtime: Runtime, ctx: ActionContext
) -> None:
    engine = runtime.engine
    await make_invalid_index(engine)
    found = await indexes.invalid_indexes(engine)
    assert found == [
        {
            "index": "public.ix_probe",
            "definition": "CREATE UNIQUE INDEX ix_probe ON public.upkeep_probe USING btree (v)",
        }
    ]
    preview = await ReindexAction().preview(ctx, TargetParams())
    assert preview.amounts["invalid_indexes"] == 1
    assert "drop INVALID public.ix_probe" in preview.summary
    assert await indexes.invalid_indexes(engine) == found  # a preview changes nothing

    relfilenode = "SELECT relfilenode FROM pg_class WHERE relname = 'ix_audit_logs_created_at'"
    node_before = await pg_scalar(engine, relfilenode)
    output = await ReindexAction().run(ctx, TargetParams())

    assert output["dropped_invalid"] == found
    assert output["method"] == "REINDEX INDEX CONCURRENTLY"
    assert await indexes.invalid_indexes(engine) == []
    assert await pg_scalar(engine, "SELECT count(*) FROM pg_class WHERE relname = 'ix_probe'") == 0
    assert await pg_scalar(engine, relfilenode) != node_before  # rebuilt into a new file
    assert output["indexes"] == await indexes.index_count(engine)


@ONLY_SQLITE
async def test_sqlite_has_no_invalid_indexes_and_reindexes_whole(
    runtime: Runtime, ctx: ActionContext
) -> None:
    assert await indexes.invalid_indexes(runtime.engine) == []
    output = await ReindexAction().run(ctx, TargetParams())
    assert output["method"] == "REINDEX" and output["dropped_invalid"] == []
    assert await maintenance.integrity_ok(runtime.engine) == (True, "quick_check ok")


async def test_reset_stats_is_followed_by_analyze(runtime: Runtime, ctx: ActionContext) -> None:
    engine = runtime.engine
    await add_audit_logs(runtime, count=30, age=timedelta(days=1))
    if engine.dialect.name == "sqlite":
        output = await ResetStatsAction().run(ctx, TargetParams())
        rows = await pg_scalar(engine, "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'audit_logs'")
        assert rows > 0 and output["stat_rows"] == await pg_scalar(
            engine, "SELECT count(*) FROM sqlite_stat1"
        )
        return
    analyze_before = await pg_scalar(engine, LAST.format(column="last_analyze"))
    output = await ResetStatsAction().run(ctx, TargetParams())
    assert output["method"] == "pg_stat_reset, then ANALYZE"
    # pg_stat_reset clears last_analyze; only the ANALYZE after it sets it again.
    analyzed = await eventually(
        lambda: pg_scalar(engine, LAST.format(column="last_analyze")),
        lambda v: v > analyze_before,
    )
    assert analyzed > analyze_before
    live = "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'audit_logs'"
    assert await eventually(lambda: pg_scalar(engine, live), lambda n: n >= 30) >= 30
