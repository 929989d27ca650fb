"""What the judiciary reads as evidence against a change: when it ran, what fired meanwhile."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import AlertRow, LedgerRow

MAX_EVIDENCE = 20
"""Alerts read per verdict: one is enough to fail it, a few name the trouble."""


@dataclass(frozen=True, slots=True)
class FiredAlert:
    """An alert as a verdict names it."""

    id: int
    alertname: str
    severity: str
    labels: dict[str, Any]
    starts_at: datetime
    state: str


async def executing_since(session: AsyncSession, operation_id: str) -> datetime | None:
    """Return when the operation first started executing, by the ledger; None if it never did."""
    stmt = select(func.min(LedgerRow.at)).where(
        LedgerRow.operation_id == operation_id,
        LedgerRow.event == "transition",
        LedgerRow.to_status == "executing",
    )
    return await session.scalar(stmt)


async def alerts_fired_since(
    session: AsyncSession,
    *,
    label: str,
    values: Collection[str],
    severities: Collection[str],
    since: datetime,
) -> list[FiredAlert]:
    """Return alerts of `severities` whose `label` is one of `values`, started at `since` or later.

    Resolved ones too: an emergency that came and went during a change still happened.
    Oldest first, at most ``MAX_EVIDENCE``.
    """
    if not values or not severities:
        return []
    stmt = (
        select(
            AlertRow.id,
            AlertRow.alertname,
            AlertRow.severity,
            AlertRow.labels,
            AlertRow.starts_at,
            AlertRow.state,
        )
        .where(
            AlertRow.severity.in_(list(severities)),
            AlertRow.starts_at >= since,
            AlertRow.labels[label].as_string().in_(list(values)),
        )
        .order_by(AlertRow.starts_at, AlertRow.id)
        .limit(MAX_EVIDENCE)
    )
    return [
        FiredAlert(
            id=r.id,
            alertname=r.alertname,
            severity=r.severity,
            labels=dict(r.labels),
            starts_at=r.starts_at,
            state=r.state,
        )
        for r in (await session.execute(stmt)).all()
    ]
