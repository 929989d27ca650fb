"""Database upkeep actions: VACUUM/ANALYZE, index rebuilds, statistics reset, retention deletes."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from triadops.actions.base import Action, ActionContext, Output
from triadops.domain.enums import Risk
from triadops.domain.errors import Forbidden
from triadops.domain.operations import StepPreview, utcnow
from triadops.storage import indexes, maintenance
from triadops.storage.tables import OWN_RETENTION_TABLES
from triadops.storage.targets import OWN_DATABASE


class TargetParams(BaseModel):
    """Which database to work on."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    target: str = Field(default=OWN_DATABASE, min_length=1, max_length=100)
    """A configured database target; ``triad`` is triad's own database."""


class PurgeParams(TargetParams):
    """Which rows to delete, and how many per transaction."""

    table: str = Field(default="audit_logs", min_length=1, max_length=63)
    """Table to delete from: only a table declared as retention data (``audit_logs`` on
    triad's own database; ``retention_tables`` for other targets)."""
    column: str = Field(default="created_at", min_length=1, max_length=63)
    """Timestamp column that decides a row's age."""
    older_than_days: int = Field(default=30, ge=1, le=36500)
    """Delete rows older than this many days."""
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    """Rows deleted per transaction."""


class VacuumAnalyzeAction(Action[TargetParams]):
    """Reclaim free space and refresh the planner's statistics."""

    name: ClassVar[str] = "database.vacuum_analyze"
    description: ClassVar[str] = "VACUUM and ANALYZE a database (no data changes)"
    params_model: ClassVar[type[BaseModel]] = TargetParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """Nothing to undo: VACUUM rewrites storage, not data."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 1800.0

    async def preview(self, ctx: ActionContext, params: TargetParams) -> StepPreview:
        """Name the database, its tables and its size."""
        engine = ctx.databases.get(params.target)
        size = await maintenance.database_size_bytes(engine)
        tables = await maintenance.table_row_counts(engine)
        return StepPreview(
            summary=f"VACUUM and ANALYZE {params.target}: {len(tables)} tables, {size} bytes",
            touches=[f"{params.target}.{name}" for name in tables],
            amounts={"bytes": size, "tables": len(tables)},
        )

    async def run(self, ctx: ActionContext, params: TargetParams) -> Output:
        """Run VACUUM and ANALYZE and report the size before and after."""
        sizes = await maintenance.vacuum_analyze(ctx.databases.get(params.target))
        return {"target": params.target, **sizes}


class ReindexAction(Action[TargetParams]):
    """Rebuild every index of a database; on PostgreSQL, drop INVALID leftovers first."""

    name: ClassVar[str] = "database.reindex"
    description: ClassVar[str] = (
        "Rebuild a database's indexes (PostgreSQL 12+: per index, CONCURRENTLY, after "
        "dropping the INVALID indexes failed concurrent builds left; SQLite: REINDEX)"
    )
    params_model: ClassVar[type[BaseModel]] = TargetParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """Nothing to undo: indexes are rebuilt from the same rows."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 1800.0

    async def preview(self, ctx: ActionContext, params: TargetParams) -> StepPreview:
        """Name the database, how many indexes would be rebuilt and which INVALID dropped."""
        engine = ctx.databases.get(params.target)
        count = await indexes.index_count(engine)
        invalid = [str(i["index"]) for i in await indexes.invalid_indexes(engine)]
        dropping = f"; drop INVALID {', '.join(invalid)}" if invalid else ""
        return StepPreview(
            summary=f"rebuild the indexes of {params.target}: {count} indexes{dropping}",
            touches=[params.target, *(f"{params.target}.{name}" for name in invalid)],
            amounts={"indexes": count, "invalid_indexes": len(invalid)},
        )

    async def run(self, ctx: ActionContext, params: TargetParams) -> Output:
        """Rebuild the indexes; report how, how many, and the INVALID ones dropped."""
        result = await indexes.reindex(ctx.databases.get(params.target))
        if result["dropped_invalid"]:
            ctx.log.warning(
                "invalid indexes dropped", target=params.target, indexes=result["dropped_invalid"]
            )
        return {"target": params.target, **result}


class ResetStatsAction(Action[TargetParams]):
    """Reset a database's statistics, then ANALYZE (PostgreSQL counters; SQLite planner stats).

    Only when asked for: the reset also zeroes the counters autovacuum decides by, which
    the ANALYZE after it estimates again.
    """

    name: ClassVar[str] = "database.reset_stats"
    description: ClassVar[str] = "Reset a database's statistics counters, then ANALYZE"
    params_model: ClassVar[type[BaseModel]] = TargetParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """Reset counters cannot be restored; new ones accumulate from zero."""
    idempotent: ClassVar[bool] = True

    async def preview(self, ctx: ActionContext, params: TargetParams) -> StepPreview:
        """Say which database's statistics would be reset."""
        engine = ctx.databases.get(params.target)
        what = (
            "re-collect the planner statistics (sqlite_stat1)"
            if engine.dialect.name == "sqlite"
            else "zero the activity counters (pg_stat_reset), then ANALYZE"
        )
        tables = await maintenance.table_row_counts(engine)
        return StepPreview(
            summary=f"reset statistics of {params.target}: {what} over {len(tables)} tables",
            touches=[params.target],
            amounts={"tables": len(tables)},
        )

    async def run(self, ctx: ActionContext, params: TargetParams) -> Output:
        """Reset the statistics and say how it was done on this dialect."""
        result = await maintenance.reset_stats(ctx.databases.get(params.target))
        return {"target": params.target, **result}


def retention_table(ctx: ActionContext, params: PurgeParams) -> str:
    """Return the table to purge, or refuse one that is not declared retention data.

    Governance tables (tokens, operations, approvals, the ledger, crown state, baselines)
    hold the record of who may do what and what was done: no risk level, authority or flag
    makes them purgeable.
    """
    ctx.databases.get(params.target)  # an unknown target is named as such first
    if params.target == OWN_DATABASE:
        allowed = OWN_RETENTION_TABLES
    else:
        allowed = frozenset(ctx.settings.retention_tables.get(params.target, []))
    if params.table not in allowed:
        declared = ", ".join(sorted(allowed)) or "none"
        raise Forbidden(
            f"{params.target}.{params.table} is not retention data and is never purged "
            f"(retention tables of {params.target}: {declared})",
            field="table",
        )
    return params.table


class PurgeAuditLogsAction(Action[PurgeParams]):
    """Delete rows past their retention age, in batches; never the ledger."""

    name: ClassVar[str] = "database.purge_audit_logs"
    description: ClassVar[str] = "Delete audit-log rows older than a number of days"
    params_model: ClassVar[type[BaseModel]] = PurgeParams
    risk: ClassVar[Risk] = Risk.MEDIUM
    reversible: ClassVar[bool] = False
    """Deleted rows are gone; a backup is the way back."""
    idempotent: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 3600.0

    async def preview(self, ctx: ActionContext, params: PurgeParams) -> StepPreview:
        """Count the rows that would be deleted now."""
        retention_table(ctx, params)
        before = utcnow() - timedelta(days=params.older_than_days)
        rows = await maintenance.count_rows_older_than(
            ctx.databases.get(params.target),
            table=params.table,
            column=params.column,
            before=before,
        )
        return StepPreview(
            summary=(
                f"delete {rows} rows from {params.target}.{params.table} with {params.column}"
                f" before {before.isoformat(timespec='seconds')}, {params.batch_size} per batch"
            ),
            touches=[f"{params.target}.{params.table}"],
            amounts={"rows": rows},
        )

    async def run(self, ctx: ActionContext, params: PurgeParams) -> Output:
        """Delete the old rows and report them under ``deleted_rows``."""
        retention_table(ctx, params)
        before = utcnow() - timedelta(days=params.older_than_days)
        deleted = await maintenance.purge_rows_older_than(
            ctx.databases.get(params.target),
            table=params.table,
            column=params.column,
            before=before,
            batch_size=params.batch_size,
        )
        ctx.log.info("rows purged", table=params.table, rows=deleted, target=params.target)
        return {
            "target": params.target,
            "cutoff": before.isoformat(),
            "deleted_rows": {params.table: deleted},
        }
