"""Stored incident reports: one row per troubleshooting run, newest first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import IncidentRow, LedgerRow


async def save_incident(
    session: AsyncSession,
    *,
    incident_id: str,
    runbook: str,
    status: str,
    opened_at: datetime,
    operation_id: str | None,
    report: dict[str, Any],
    alert_id: int | None = None,
) -> None:
    """Insert or replace the incident's row, in the caller's transaction."""
    row = await session.get(IncidentRow, incident_id)
    if row is None:
        session.add(
            IncidentRow(
                id=incident_id,
                runbook=runbook,
                status=status,
                opened_at=opened_at,
                operation_id=operation_id,
                alert_id=alert_id,
                report=report,
            )
        )
        return
    row.status, row.operation_id, row.report = status, operation_id, report


async def read_incident(session: AsyncSession, incident_id: str) -> dict[str, Any] | None:
    """The stored report of `incident_id`, or None."""
    row = await session.get(IncidentRow, incident_id)
    return None if row is None else dict(row.report)


async def list_incidents(session: AsyncSession, *, limit: int = 50) -> list[dict[str, Any]]:
    """The newest incidents' reports first (by the opening time's index)."""
    rows = await session.scalars(
        select(IncidentRow)
        .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
        .limit(limit)
    )
    return [dict(r.report) for r in rows.all()]


async def incident_page(
    session: AsyncSession,
    *,
    status: str | None = None,
    runbook: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 25,
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """A page of incidents newest first (ties by id), of a status or runbook, after `after`.

    Each row is its opening time, id and stored report: the first two are the page's
    position (keyset paging on the opening time's index, as the operations listing does).
    """
    stmt = select(IncidentRow.opened_at, IncidentRow.id, IncidentRow.report)
    if status is not None:
        stmt = stmt.where(IncidentRow.status == status)
    if runbook is not None:
        stmt = stmt.where(IncidentRow.runbook == runbook)
    if after is not None:
        at, last_id = after
        # The bare bound lets every dialect bound the index range by it.
        stmt = stmt.where(
            IncidentRow.opened_at <= at, or_(IncidentRow.opened_at < at, IncidentRow.id < last_id)
        )
    stmt = stmt.order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit)
    return [(r[0], str(r[1]), dict(r[2])) for r in (await session.execute(stmt)).all()]


async def troubleshot_alerts(session: AsyncSession, ids: Collection[int]) -> set[int]:
    """Which of the alerts `ids` already have an incident (by the alert's index)."""
    if not ids:
        return set()
    found = await session.scalars(
        select(IncidentRow.alert_id).where(IncidentRow.alert_id.in_(sorted(ids)))
    )
    return {int(i) for i in found.all() if i is not None}


async def stored_reports(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    """Every incident's id and stored report (what the audit holds to the ledger)."""
    rows = await session.execute(
        select(IncidentRow.id, IncidentRow.report).order_by(IncidentRow.id)
    )
    return [(str(r[0]), dict(r[1])) for r in rows]


async def ledger_seqs(session: AsyncSession, operation_id: str) -> list[int]:
    """The seqs of an operation's ledger entries, in order (an incident's references)."""
    found = await session.scalars(
        select(LedgerRow.seq).where(LedgerRow.operation_id == operation_id).order_by(LedgerRow.seq)
    )
    return [int(s) for s in found.all()]


async def runbook_outcomes(session: AsyncSession, runbook: str) -> dict[str, int]:
    """How the runbook's incidents ended, by status (one grouped read of its index)."""
    rows = await session.execute(
        select(IncidentRow.status, func.count())
        .where(IncidentRow.runbook == runbook)
        .group_by(IncidentRow.status)
    )
    return {str(status): int(n) for status, n in rows.all()}
