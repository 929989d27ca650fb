"""Stored health reports, and what the branches' health is read from: finished operations.

Reports are kept newest first by id (the order they were stored in); every read goes through
the primary key or the ``checked_at`` index, so its cost does not grow with the history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import OperationStatus
from triadops.domain.health import HealthReportSummary, HealthStatus
from triadops.storage.tables import HealthReportRow, OperationRow

FINISHED = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.ROLLED_BACK)
"""The states an operation ends in after the judiciary could have ruled on it."""


async def add_report(
    session: AsyncSession,
    *,
    checked_at: datetime,
    score: float,
    status: str,
    report: dict[str, Any],
) -> int:
    """Store one report's JSON and return its id; the caller commits."""
    row = HealthReportRow(checked_at=checked_at, score=score, status=status, report=report)
    session.add(row)
    await session.flush()
    return row.id


async def prune_reports(session: AsyncSession, *, keep: int) -> int:
    """Delete every report but the newest `keep` (by id) and return how many went.

    One delete below the `keep`-th newest id: a walk of the primary key, however long the
    history is.
    """
    oldest_kept = (
        select(HealthReportRow.id)
        .order_by(HealthReportRow.id.desc())
        .offset(max(keep, 1) - 1)
        .limit(1)
        .scalar_subquery()
    )
    result = await session.execute(delete(HealthReportRow).where(HealthReportRow.id < oldest_kept))
    return int(getattr(result, "rowcount", 0) or 0)


async def latest_report(session: AsyncSession) -> HealthReportRow | None:
    """Return the newest stored report, or None."""
    stmt = select(HealthReportRow).order_by(HealthReportRow.id.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def oldest_report_since(session: AsyncSession, *, since: datetime) -> HealthReportRow | None:
    """Return the earliest report checked at or after `since`, or None."""
    stmt = (
        select(HealthReportRow)
        .where(HealthReportRow.checked_at >= since)
        .order_by(HealthReportRow.checked_at, HealthReportRow.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_reports(
    session: AsyncSession, *, limit: int, before_id: int | None = None
) -> list[HealthReportSummary]:
    """Return up to `limit` reports' headlines, newest first, those below `before_id` only."""
    stmt = select(
        HealthReportRow.id,
        HealthReportRow.checked_at,
        HealthReportRow.score,
        HealthReportRow.status,
    )
    if before_id is not None:
        stmt = stmt.where(HealthReportRow.id < before_id)
    rows = (await session.execute(stmt.order_by(HealthReportRow.id.desc()).limit(limit))).all()
    return [
        HealthReportSummary(
            id=r.id, checked_at=r.checked_at, score=r.score, status=HealthStatus(r.status)
        )
        for r in rows
    ]


async def count_compliance(session: AsyncSession, *, since: datetime) -> tuple[int, int]:
    """Return how many operations created since `since` finished, and how many of them passed.

    Passed: the verdict in ``validation_result`` says ``passed``, which the judiciary sets
    only when every criterion passed. Finished: completed, failed or rolled back, and not
    ended by a cancel (stopping a change is not a failure of it). Read
    through the ``(status, created_at)`` index: the cost follows the window, not the history.
    """
    passed = OperationRow.validation_result["passed"].as_boolean()
    stmt = select(
        func.count(),
        func.count().filter(passed.is_(True)),
    ).where(
        OperationRow.status.in_([s.value for s in FINISHED]),
        OperationRow.created_at >= since,
        OperationRow.cancel_requested_by.is_(None),
    )
    finished, passed_count = (await session.execute(stmt)).one()
    return int(finished), int(passed_count)
