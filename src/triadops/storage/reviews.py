"""The post-change reviews due: ended changes of the types whose SOP asks for one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import OperationType
from triadops.domain.sops import REVIEW_DUE
from triadops.storage.tables import OperationRow


async def reviews_due(
    session: AsyncSession, *, types: Sequence[OperationType], limit: int = 50
) -> list[OperationRow]:
    """Return the newest operations of `types` that ended without a review (ties by id).

    A walk of the (status, operation_type) index over the ended operations of `types`,
    sorted: its cost grows with those (the deployments and incidents), not the history.
    """
    if not types:
        return []
    return list((await session.execute(due_query(types, limit))).scalars().all())


def _due(types: Sequence[OperationType]) -> list[ColumnElement[bool]]:
    return [
        OperationRow.status.in_([s.value for s in REVIEW_DUE]),
        OperationRow.operation_type.in_([t.value for t in types]),
        OperationRow.reviewed_by.is_(None),
    ]


def due_query(types: Sequence[OperationType], limit: int) -> Select[OperationRow]:
    """The newest unreviewed ended operations of `types`, at most `limit` of them."""
    return (
        select(OperationRow)
        .where(*_due(types))
        .order_by(OperationRow.created_at.desc(), OperationRow.id)
        .limit(limit)
    )
