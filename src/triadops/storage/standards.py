"""Stored standard changes: one row per plan hash, its success record and standing.

Every writer locks the row it changes (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer), so two runs of one plan ending at once count twice, and a revocation and a
pre-approval of the same plan are never both decided on the same old standing.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.standards import Outcome, StandardChange, Standing
from triadops.storage.tables import OperationRow, StandardChangeRow


async def get_standard(
    session: AsyncSession, plan_hash: str, *, for_update: bool = False
) -> StandardChangeRow | None:
    """The plan's record, locked for this transaction when `for_update`, or None."""
    stmt = select(StandardChangeRow).where(StandardChangeRow.plan_hash == plan_hash)
    if for_update and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_for(
    session: AsyncSession, plan_hash: str, *, subject: str, now: datetime
) -> StandardChangeRow:
    """The plan's record, locked, created empty (standing none) if it has none yet.

    Two transactions creating the same record at once both insert with ``ON CONFLICT DO
    NOTHING``; the second then waits on the first's lock and reads what it wrote.
    """
    values: dict[str, Any] = {
        "plan_hash": plan_hash,
        "subject": subject[:200],
        "standing": Standing.NONE.value,
        "streak": 0,
        "successes": 0,
        "failures": 0,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(StandardChangeRow).values(values).on_conflict_do_nothing())
    row = await get_standard(session, plan_hash, for_update=True)
    assert row is not None  # inserted above, or by a transaction that committed first
    return row


def counted(row: StandardChangeRow, outcome: Outcome, *, operation_id: str, at: datetime) -> None:
    """Count one run's end on the record: a validation lengthens the streak, else it ends."""
    if outcome is Outcome.VALIDATED:
        row.streak += 1
        row.successes += 1
    else:
        row.streak = 0
        row.failures += 1
    row.last_operation_id, row.last_outcome, row.last_at = operation_id, outcome.value, at
    row.updated_at = at


def stood(
    row: StandardChangeRow,
    standing: Standing,
    *,
    at: datetime,
    by: str | None = None,
    reason: str | None = None,
) -> None:
    """Move the record to `standing`; a person's decision names them, a proposal keeps it."""
    row.standing = standing.value
    row.updated_at = at
    if standing is Standing.PROPOSED:
        row.proposed_at, row.reason = at, None
        return
    if by is not None:
        row.decided_by, row.decided_at = by, at
    row.reason = reason


def standard_view(row: StandardChangeRow) -> StandardChange:
    """The stored row as the domain's read model."""
    return StandardChange(
        plan_hash=row.plan_hash,
        subject=row.subject,
        standing=Standing(row.standing),
        streak=row.streak,
        successes=row.successes,
        failures=row.failures,
        last_operation_id=row.last_operation_id,
        last_outcome=Outcome(row.last_outcome) if row.last_outcome else None,
        last_at=row.last_at,
        proposed_at=row.proposed_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
    )


async def list_standards(
    session: AsyncSession,
    *,
    standing: Standing | None = None,
    subjects: Collection[str] = (),
    limit: int = 100,
) -> list[StandardChange]:
    """Records, the most recently changed first; only of `standing` and `subjects` if given."""
    stmt = select(StandardChangeRow)
    if standing is not None:
        stmt = stmt.where(StandardChangeRow.standing == standing.value)
    if subjects:
        stmt = stmt.where(StandardChangeRow.subject.in_(sorted(subjects)))
    stmt = stmt.order_by(StandardChangeRow.updated_at.desc(), StandardChangeRow.plan_hash).limit(
        limit
    )
    return [standard_view(r) for r in (await session.scalars(stmt)).all()]


async def stored_standards(session: AsyncSession) -> list[dict[str, Any]]:
    """Every record's fields the ledger proves, for ``audit verify``."""
    rows = await session.execute(
        select(
            StandardChangeRow.plan_hash,
            StandardChangeRow.subject,
            StandardChangeRow.standing,
            StandardChangeRow.streak,
            StandardChangeRow.successes,
            StandardChangeRow.failures,
            StandardChangeRow.decided_by,
        )
    )
    return [dict(r._mapping) for r in rows]


async def awaiting_plan(session: AsyncSession, plan_hash: str, *, limit: int = 500) -> list[str]:
    """The operations waiting for approval of this exact plan (by the status index)."""
    stmt = (
        select(OperationRow.id)
        .where(OperationRow.status == "awaiting_approval", OperationRow.plan_hash == plan_hash)
        .order_by(OperationRow.created_at)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def matching(session: AsyncSession, prefix: str, *, limit: int = 2) -> list[str]:
    """The plan hashes that start with `prefix` (lower-case hex), at most `limit`."""
    stmt = (
        select(StandardChangeRow.plan_hash)
        .where(StandardChangeRow.plan_hash.startswith(prefix, autoescape=True))
        .order_by(StandardChangeRow.plan_hash)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())
