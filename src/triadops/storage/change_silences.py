"""Change-linked silences: opened when an operation starts executing, closed when it ends."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import new_silence_id
from triadops.storage.tables import OperationRow, SilenceRow


def open_silence(
    session: AsyncSession,
    *,
    operation_id: str,
    matchers: list[dict[str, Any]],
    by: str,
    now: datetime,
    last_s: float,
) -> SilenceRow:
    """Add a silence tagged with `operation_id` that ends at ``now + last_s`` at the latest."""
    row = SilenceRow(
        id=new_silence_id(now),
        matchers=matchers,
        comment=f"change-linked: operation {operation_id} is executing",
        created_by=by,
        created_at=now,
        starts_at=now,
        ends_at=now + timedelta(seconds=last_s),
        operation_id=operation_id,
    )
    session.add(row)
    return row


async def has_open_silence(session: AsyncSession, operation_id: str, *, now: datetime) -> bool:
    """True when the operation already has a change-linked silence that has not ended."""
    stmt = select(SilenceRow.id).where(
        SilenceRow.operation_id == operation_id,
        SilenceRow.expired_at.is_(None),
        SilenceRow.ends_at > now,
    )
    return (await session.scalar(stmt.limit(1))) is not None


async def end_silences(
    session: AsyncSession, operation_ids: Collection[str], *, now: datetime
) -> list[tuple[str, str]]:
    """End now the open change-linked silences of `operation_ids`: (silence, operation) ids.

    Only ``ends_at`` moves: the alert loop expires an ended silence and unmutes its alerts.
    """
    stmt = (
        update(SilenceRow)
        .where(
            SilenceRow.operation_id.in_(list(operation_ids)),
            SilenceRow.expired_at.is_(None),
            SilenceRow.ends_at > now,
        )
        .values(ends_at=now)
        .returning(SilenceRow.id, SilenceRow.operation_id)
    )
    return [(r[0], str(r[1])) for r in (await session.execute(stmt)).all()]


async def open_change_silences(
    session: AsyncSession, *, now: datetime
) -> Sequence[tuple[str, str, datetime, str | None]]:
    """Return the change-linked silences still running: (id, operation id, created, status)."""
    stmt = (
        select(SilenceRow.id, SilenceRow.operation_id, SilenceRow.created_at, OperationRow.status)
        .outerjoin(OperationRow, OperationRow.id == SilenceRow.operation_id)
        .where(
            SilenceRow.operation_id.is_not(None),
            SilenceRow.expired_at.is_(None),
            SilenceRow.ends_at > now,
        )
    )
    return [(r[0], str(r[1]), r[2], r[3]) for r in (await session.execute(stmt)).all()]
