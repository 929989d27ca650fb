"""Stored ``performance.analysis`` reports: the newest few, read newest first by id."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.domain.baselines import PerformanceReport
from triadops.storage.tables import PerformanceReportRow

KEEP = 100
"""Reports kept; older ones are deleted as new ones are stored."""


async def add_report(engine: AsyncEngine, report: PerformanceReport, *, keep: int = KEEP) -> int:
    """Store `report` and prune the history to `keep`, in one short transaction; its id."""
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(PerformanceReportRow).returning(PerformanceReportRow.id),
            {
                "measured_at": report.measured_at,
                "operation_id": report.operation_id,
                "regressions": report.regressions,
                "report": report.model_dump(mode="json"),
            },
        )
        stored = int(result.scalar_one())
        await conn.execute(
            delete(PerformanceReportRow).where(PerformanceReportRow.id <= stored - max(keep, 1))
        )
    return stored


async def latest_report(engine: AsyncEngine) -> PerformanceReport | None:
    """Return the newest stored report, or None; outside any transaction."""
    stmt = select(PerformanceReportRow.report).order_by(PerformanceReportRow.id.desc()).limit(1)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        found = (await conn.execute(stmt)).scalar_one_or_none()
    return None if found is None else PerformanceReport.model_validate(found)
