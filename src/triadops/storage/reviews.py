"""The post-change reviews due: ended changes of the types whose SOP asks for one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.enums import OperationType
from triadops.storage.tables import REVIEW_DUE_WHERE, OperationRow


async def reviews_due(
    session: AsyncSession, *, types: Sequence[OperationType], limit: int = 50
) -> list[OperationRow]:
    """Return the newest operations of `types` that ended without a review (ties by id).

    The partial index ``ix_operations_review_due`` holds exactly the unreviewed ended rows,
    so the walk costs what is due, however long the history.
    """
    if not types:
        return []
    stmt = (
        select(OperationRow)
        .where(OperationRow.operation_type.in_([t.value for t in types]), text(REVIEW_DUE_WHERE))
        .order_by(OperationRow.created_at.desc(), OperationRow.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def count_reviews_due(
    session: AsyncSession, *, types: Sequence[OperationType]
) -> dict[OperationType, int]:
    """Return how many reviews are due for each of `types` (those with none are left out)."""
    if not types:
        return {}
    stmt = (
        select(OperationRow.operation_type, func.count())
        .where(OperationRow.operation_type.in_([t.value for t in types]), text(REVIEW_DUE_WHERE))
        .group_by(OperationRow.operation_type)
    )
    return {OperationType(kind): count for kind, count in (await session.execute(stmt)).all()}
