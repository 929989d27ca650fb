"""Stored security reports: written by the ``security.audit`` step, read newest first by id."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from triadops.domain.security import SecurityReport
from triadops.storage.tables import SecurityReportRow

KEEP = 100
"""Reports kept; older ones go when a new one is stored."""


async def save_report(
    engine: AsyncEngine, report: SecurityReport, *, operation_id: str, step_key: str
) -> int:
    """Store `report` in one short transaction and return its id.

    A resumed step (same `step_key`) replaces the report it stored before, so an audit that
    ran twice after an interruption is one report.
    """
    data = report.model_dump(mode="json", exclude={"id", "operation_id"})
    values = {"created_at": report.created_at, "status": report.status, "report": data}
    async with engine.begin() as conn:
        found = await conn.scalar(
            select(SecurityReportRow.id).where(SecurityReportRow.step_key == step_key)
        )
        if found is not None:
            await conn.execute(
                update(SecurityReportRow).where(SecurityReportRow.id == found).values(values)
            )
            return int(found)
        row = await conn.execute(
            insert(SecurityReportRow).returning(SecurityReportRow.id),
            {"step_key": step_key, "operation_id": operation_id, **values},
        )
        report_id = int(row.scalar_one())
        await _prune(conn, newest=report_id)
    return report_id


async def _prune(conn: AsyncConnection, *, newest: int) -> None:
    """Delete every report older than the newest ``KEEP`` (ids are in storing order)."""
    await conn.execute(delete(SecurityReportRow).where(SecurityReportRow.id <= newest - KEEP))


async def latest_report(session: AsyncSession) -> SecurityReport | None:
    """Return the newest stored report, or None."""
    row = await session.scalar(
        select(SecurityReportRow).order_by(SecurityReportRow.id.desc()).limit(1)
    )
    if row is None:
        return None
    return SecurityReport.model_validate(
        {**row.report, "id": row.id, "operation_id": row.operation_id}
    )


async def latest_report_id(session: AsyncSession) -> int | None:
    """Return the newest report's id (one primary-key read), or None."""
    found = await session.scalar(
        select(SecurityReportRow.id).order_by(SecurityReportRow.id.desc()).limit(1)
    )
    return None if found is None else int(found)
