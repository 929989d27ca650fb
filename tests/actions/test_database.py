from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.actions.conftest import action_context
from triadops.actions.base import ActionContext
from triadops.actions.database import (
    PurgeAuditLogsAction,
    PurgeParams,
    ReindexAction,
    ResetStatsAction,
    TargetParams,
    VacuumAnalyzeAction,
)
from triadops.domain.errors import Forbidden, InvalidRequest
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage import indexes, maintenance
from triadops.storage.engine import create_engine
from triadops.storage.tables import AuditLogRow
from triadops.storage.targets import DatabaseTargets


@pytest.fixture
def ctx(runtime: Runtime) -> ActionContext:
    return action_context(runtime.settings, runtime.databases)


async def add_audit_logs(runtime: Runtime, *, count: int, age: timedelta, size: int = 10) -> None:
    at = utcnow() - age
    async with runtime.session() as session:
        session.add_all(
            AuditLogRow(created_at=at, actor="tester", action="GET /x", detail={"pad": "x" * size})
            for _ in range(count)
        )
        await session.commit()


async def audit_log_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(AuditLogRow))).scalar_one())


async def pg_scalar(engine: AsyncEngine, sql: str) -> Any:
    # A fresh connection each time: statistics views are snapshotted per transaction.
    async with engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def test_vacuum_shrinks_sqlite_and_is_counted_on_postgres(
    runtime: Runtime, ctx: ActionContext
) -> None:
    engine = runtime.engine
    await add_audit_logs(runtime, count=2000, age=timedelta(days=1), size=1000)
    async with runtime.session() as session:
        await session.execute(AuditLogRow.__table__.delete())
        await session.commit()
    before_size = await maintenance.database_size_bytes(engine)
    if engine.dialect.name == "postgresql":
        vacuums = await pg_scalar(
            engine, "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'audit_logs'"
        )

    output = await VacuumAnalyzeAction().run(ctx, TargetParams())

    assert output["target"] == "triad"
    assert output["size_before_bytes"] == before_size
    if engine.dialect.name == "sqlite":
        assert output["size_after_bytes"] < before_size / 4
        assert await maintenance.database_size_bytes(engine) == output["size_after_bytes"]
    else:
        for _ in range(50):
            now = await pg_scalar(
                engine,
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'audit_logs'",
            )
            if now > vacuums:
                break
            await asyncio.sleep(0.1)
        assert now == vacuums + 1


async def test_vacuum_preview_reports_size_and_changes_nothing(
    runtime: Runtime, ctx: ActionContext
) -> None:
    await add_audit_logs(runtime, count=10, age=timedelta(days=1))
    counts = await maintenance.table_row_counts(runtime.engine)
    preview = await VacuumAnalyzeAction().preview(ctx, TargetParams())
    assert preview.amounts["tables"] == len(counts) > 0
    assert preview.amounts["bytes"] == await maintenance.database_size_bytes(runtime.engine)
    assert "triad.audit_logs" in preview.touches
    assert await maintenance.table_row_counts(runtime.engine) == counts


async def test_reindex_rebuilds_every_index(runtime: Runtime, ctx: ActionContext) -> None:
    engine = runtime.engine
    relfilenode = "SELECT relfilenode FROM pg_class WHERE relname = 'ix_audit_logs_created_at'"
    if engine.dialect.name == "postgresql":
        node_before = await pg_scalar(engine, relfilenode)
    preview = await ReindexAction().preview(ctx, TargetParams())
    output = await ReindexAction().run(ctx, TargetParams())
    assert output["target"] == "triad" and output["dropped_invalid"] == []
    assert output["indexes"] == preview.amounts["indexes"] == await indexes.index_count(engine) > 0
    assert output["method"] == (
        "REINDEX" if engine.dialect.name == "sqlite" else "REINDEX INDEX CONCURRENTLY"
    )
    if engine.dialect.name == "postgresql":
        # REINDEX writes each index afresh into a new file.
        assert await pg_scalar(engine, relfilenode) != node_before
    assert await maintenance.integrity_ok(engine) == (True, await _integrity_line(engine))


async def _integrity_line(engine: AsyncEngine) -> str:
    return "quick_check ok" if engine.dialect.name == "sqlite" else "connected (primary)"


async def test_reset_stats_resets_for_real(runtime: Runtime, ctx: ActionContext) -> None:
    engine = runtime.engine
    await add_audit_logs(runtime, count=20, age=timedelta(days=1))
    if engine.dialect.name == "postgresql":
        stats_reset = (
            "SELECT coalesce(stats_reset, 'epoch') FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
        reset_before = await pg_scalar(engine, stats_reset)
        output = await ResetStatsAction().run(ctx, TargetParams())
        assert output == {"target": "triad", "method": "pg_stat_reset, then ANALYZE"}
        assert await pg_scalar(engine, stats_reset) > reset_before
    else:
        output = await ResetStatsAction().run(ctx, TargetParams())
        assert output["method"] == "sqlite_stat1 re-collected"
        stat_rows = await pg_scalar(engine, "SELECT count(*) FROM sqlite_stat1")
        assert output["stat_rows"] == stat_rows > 0


async def test_purge_deletes_exactly_the_old_rows_in_batches(
    runtime: Runtime, ctx: ActionContext
) -> None:
    await add_audit_logs(runtime, count=25, age=timedelta(days=30, hours=1))
    await add_audit_logs(runtime, count=5, age=timedelta(days=29, hours=23))
    deletes: list[str] = []

    def count_deletes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("DELETE"):
            deletes.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count_deletes)
    params = PurgeParams(older_than_days=30, batch_size=10)
    try:
        preview = await PurgeAuditLogsAction().preview(ctx, params)
        assert deletes == []
        assert await audit_log_count(runtime.engine) == 30
        output = await PurgeAuditLogsAction().run(ctx, params)
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count_deletes)

    assert preview.amounts == {"rows": 25}
    assert preview.touches == ["triad.audit_logs"]
    assert output["deleted_rows"] == {"audit_logs": 25}
    assert len(deletes) == 3  # 10 + 10 + 5
    assert await audit_log_count(runtime.engine) == 5
    again = await PurgeAuditLogsAction().run(ctx, params)
    assert again["deleted_rows"] == {"audit_logs": 0}


GOVERNANCE_TABLES = [
    "ledger",
    "ledger_head",
    "tokens",
    "principals",
    "operations",
    "steps",
    "approvals",
    "crown_state",
    "baselines",
    "alembic_version",
    "audit_logs; DROP TABLE ledger",
    "nowhere",
]


@pytest.mark.parametrize("table", GOVERNANCE_TABLES)
async def test_purge_refuses_every_table_but_retention_data(
    runtime: Runtime, ctx: ActionContext, table: str
) -> None:
    await add_audit_logs(runtime, count=3, age=timedelta(days=90))
    action = PurgeAuditLogsAction()
    for call in (action.preview, action.run):
        with pytest.raises(Forbidden, match=rf"triad\.{re.escape(table)} is not retention data"):
            await call(ctx, PurgeParams.model_validate({"table": table, "older_than_days": 1}))
    assert await audit_log_count(runtime.engine) == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"column": "created_at < now() OR 1=1"}, "not a plain identifier"),
        ({"column": "nothing"}, "has no column 'nothing'"),
        ({"column": "actor"}, "audit_logs.actor is .*not a timestamp"),
        ({"target": "elsewhere"}, "unknown database target 'elsewhere' \\(known: triad\\)"),
    ],
)
async def test_purge_refuses_with_a_clear_message(
    runtime: Runtime, ctx: ActionContext, params: dict[str, str], message: str
) -> None:
    await add_audit_logs(runtime, count=3, age=timedelta(days=90))
    action = PurgeAuditLogsAction()
    for call in (action.preview, action.run):
        with pytest.raises(InvalidRequest, match=message):
            await call(ctx, PurgeParams.model_validate(params))
    assert await audit_log_count(runtime.engine) == 3


@pytest.fixture
async def scratch(runtime: Runtime, tmp_path: Path) -> AsyncIterator[ActionContext]:
    """A context with a second target, ``scratch``: a SQLite file with an ``events`` table."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, body TEXT)")
        )
        await conn.execute(text("CREATE INDEX ix_events_at ON events (at)"))
        for days in (1, 10, 100, 200):
            await conn.execute(
                text("INSERT INTO events (at, body) VALUES (:at, 'x')"),
                {"at": (utcnow() - timedelta(days=days)).replace(tzinfo=None)},
            )
    await engine.dispose()
    settings = runtime.settings.model_copy(
        update={
            "database_targets": {"scratch": url},
            "retention_tables": {"scratch": ["events", "missing"]},
        }
    )
    databases = DatabaseTargets(runtime.engine, settings.database_targets)
    try:
        yield action_context(settings, databases)
    finally:
        await databases.dispose()


async def test_a_second_target_is_worked_on_alone(runtime: Runtime, scratch: ActionContext) -> None:
    params = PurgeParams(target="scratch", table="events", column="at", older_than_days=30)
    preview = await PurgeAuditLogsAction().preview(scratch, params)
    assert preview.amounts == {"rows": 2}
    output = await PurgeAuditLogsAction().run(scratch, params)
    assert output["target"] == "scratch"
    assert output["deleted_rows"] == {"events": 2}
    engine = scratch.databases.get("scratch")
    assert await maintenance.table_row_counts(engine) == {"events": 2}
    vacuumed = await VacuumAnalyzeAction().run(scratch, TargetParams(target="scratch"))
    assert vacuumed["target"] == "scratch"
    reindexed = await ReindexAction().run(scratch, TargetParams(target="scratch"))
    assert reindexed["indexes"] == 1
    assert "audit_logs" in await maintenance.table_row_counts(runtime.engine)


async def test_other_targets_purge_only_their_declared_tables(scratch: ActionContext) -> None:
    action = PurgeAuditLogsAction()
    undeclared = PurgeParams(target="scratch", table="sqlite_sequence", column="at")
    with pytest.raises(Forbidden, match="retention tables of scratch: events, missing"):
        await action.run(scratch, undeclared)
    declared_but_absent = PurgeParams(target="scratch", table="missing", column="at")
    with pytest.raises(InvalidRequest, match="unknown table 'missing'"):
        await action.preview(scratch, declared_but_absent)
    engine = scratch.databases.get("scratch")
    assert await maintenance.table_row_counts(engine) == {"events": 4}
