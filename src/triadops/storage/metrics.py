"""Reads behind ``/metrics``: small grouped counts over indexed columns, and a few rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import AlertRow, HealthReportRow, NotificationRow, OperationRow


async def operations_by_type_and_status(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Count operations per (type, status): a walk of the (status, type) index."""
    stmt = select(OperationRow.operation_type, OperationRow.status, func.count()).group_by(
        OperationRow.status, OperationRow.operation_type
    )
    return {(t, s): int(n) for t, s, n in (await session.execute(stmt)).all()}


async def alerts_by_severity(
    session: AsyncSession, states: list[str]
) -> dict[tuple[str, str], int]:
    """Count the alerts in `states` per (severity, state); resolved ones are never read."""
    stmt = (
        select(AlertRow.severity, AlertRow.state, func.count())
        .where(AlertRow.state.in_(states))
        .group_by(AlertRow.state, AlertRow.severity)
    )
    return {(sev, st): int(n) for sev, st, n in (await session.execute(stmt)).all()}


async def notifications_by_channel(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Count deliveries per (channel, status)."""
    stmt = select(NotificationRow.channel, NotificationRow.status, func.count()).group_by(
        NotificationRow.channel, NotificationRow.status
    )
    return {(c, s): int(n) for c, s, n in (await session.execute(stmt)).all()}


async def latest_health_report(session: AsyncSession) -> dict[str, Any] | None:
    """Return the newest stored health report's document, or None before the first."""
    stmt = select(HealthReportRow.report).order_by(HealthReportRow.id.desc()).limit(1)
    report: dict[str, Any] | None = await session.scalar(stmt)
    return report
