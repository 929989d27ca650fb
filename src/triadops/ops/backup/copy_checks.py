"""What a recovery test checks on a restored copy beyond its row counts.

PostgreSQL copies are checked with pg_amcheck (recorded as not installed when absent), and
every smoke query declared for the backup's target runs on the copy, read-only and under
its timeout (``settings.smoke_queries``). A failure names the query or the corruption.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from triadops.actions.backup_restore import Restored
from triadops.actions.base import ActionContext
from triadops.actions.commands.local import LocalRunner
from triadops.actions.pg_amcheck import amcheck
from triadops.domain.backups import BackupManifest
from triadops.domain.errors import ActionFailed
from triadops.settings.smoke_queries import SmokeQuery
from triadops.storage.smoke import Row, read_only_query


async def check_copy(
    ctx: ActionContext, manifest: BackupManifest, restored: Restored, runner: LocalRunner
) -> list[str]:
    """Run pg_amcheck (PostgreSQL) and the target's smoke queries; the checks passed."""
    checks: list[str] = []
    if restored.engine.dialect.name == "postgresql":
        checks.append(await amcheck(runner, ctx.settings, restored.engine))
    for query in ctx.settings.backups.smoke_queries:
        if query.target == manifest.source:
            checks.append(await smoke(restored, query, backup_id=manifest.id))
    return checks


async def smoke(restored: Restored, query: SmokeQuery, *, backup_id: str) -> str:
    """Run one smoke query on the copy; fail naming it when it errs or answers otherwise."""
    named = f"smoke query {query.name} on the restored copy of {backup_id}"
    try:
        rows = await read_only_query(restored.engine, query.sql, timeout_s=query.timeout_s)
    except (SQLAlchemyError, sqlite3.Error) as exc:
        said = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise ActionFailed(f"{named} failed: {said}") from None
    problem = unexpected(query, rows)
    if problem:
        raise ActionFailed(f"{named} {problem}")
    return f"smoke query {query.name}: ok ({len(rows)} rows)"


def unexpected(query: SmokeQuery, rows: list[Row]) -> str | None:
    """How the answer differs from what the query expects, or None."""
    if query.expect_min_rows is not None and len(rows) < query.expect_min_rows:
        return f"answered {len(rows)} rows, expected at least {query.expect_min_rows}"
    if query.expect_value is None and query.expect_min_value is None:
        return None
    if not rows or not rows[0]:
        return "answered no row, expected a value"
    first = rows[0][0]
    if query.expect_value is not None and first != query.expect_value:
        return f"answered {first!r}, expected {query.expect_value!r}"
    if query.expect_min_value is not None:
        if not isinstance(first, int | float | Decimal) or isinstance(first, bool):
            return f"answered {first!r}, expected a number of at least {query.expect_min_value:g}"
        if first < query.expect_min_value:
            return f"answered {first!r}, expected at least {query.expect_min_value:g}"
    return None
