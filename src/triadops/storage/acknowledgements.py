"""Emergency operations the crown has not acknowledged past their deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import OperationRow


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """An emergency operation still owed an acknowledgement after its deadline."""

    id: str
    deadline: datetime
    requested_by: str
    status: str


async def unacknowledged_emergencies(
    session: AsyncSession, *, now: datetime
) -> list[Unacknowledged]:
    """Return the emergencies whose acknowledgement deadline passed without one, oldest first."""
    stmt = (
        select(
            OperationRow.id,
            OperationRow.acknowledgement_deadline,
            OperationRow.requested_by,
            OperationRow.status,
        )
        .where(
            OperationRow.acknowledgement_deadline < now,
            OperationRow.acknowledged_by.is_(None),
        )
        .order_by(OperationRow.acknowledgement_deadline)
    )
    return [
        Unacknowledged(id=r.id, deadline=deadline, requested_by=r.requested_by, status=r.status)
        for r in (await session.execute(stmt)).all()
        if (deadline := r.acknowledgement_deadline) is not None
    ]


async def acknowledged_by(session: AsyncSession, operation_ids: set[str]) -> dict[str, str]:
    """Return who acknowledged each of `operation_ids` that has been acknowledged."""
    stmt = select(OperationRow.id, OperationRow.acknowledged_by).where(
        OperationRow.id.in_(sorted(operation_ids)), OperationRow.acknowledged_by.is_not(None)
    )
    return {r.id: r.acknowledged_by for r in (await session.execute(stmt)).all()}
