"""Stage totals: each branch's stage durations and outcomes, folded from the ledger.

The fold reads only the links after its cursor, so its cost follows new work, never history;
``/metrics`` and the health report read the handful of total rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.storage.tables import CursorRow, LedgerRow, StageTotalRow

BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
"""Upper bounds (seconds) of the stage-duration histogram; +Inf is the count."""
STAGE_CURSOR = "stage_totals"


@dataclass
class StageTotal:
    """One branch's stages (or steps) with one outcome, since the beginning (`ops.stages`)."""

    branch: str
    outcome: str
    count: int = 0
    sum_s: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    """Cumulative: ``buckets[i]`` counts the stages that took at most ``BUCKETS[i]``."""

    def observe(self, seconds: float) -> None:
        """Count one stage that took `seconds`."""
        self.count += 1
        self.sum_s += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


async def read_totals(session: AsyncSession) -> list[StageTotal]:
    """Return every branch's totals (a few rows)."""
    rows = (await session.scalars(select(StageTotalRow))).all()
    return [
        StageTotal(r.branch, r.outcome, r.count, r.sum_s, list(r.buckets))
        for r in sorted(rows, key=lambda r: (r.branch, r.outcome))
    ]


async def cursor(session: AsyncSession, name: str) -> int:
    """Return the seq of the last link a fold called `name` has read (0 before any)."""
    position = await session.scalar(select(CursorRow.position).where(CursorRow.name == name))
    return position or 0


async def links_after(
    session: AsyncSession, seq: int, *, limit: int
) -> Sequence[tuple[int, str, Any, Any, dict[str, Any], str]]:
    """Return up to `limit` links after `seq`: (seq, event, from, to, details, actor)."""
    stmt = (
        select(
            LedgerRow.seq,
            LedgerRow.event,
            LedgerRow.from_status,
            LedgerRow.to_status,
            LedgerRow.details,
            LedgerRow.actor,
        )
        .where(LedgerRow.seq > seq)
        .order_by(LedgerRow.seq)
        .limit(limit)
    )
    return [tuple(r) for r in (await session.execute(stmt)).all()]  # type: ignore[misc]


async def add_totals(
    session: AsyncSession, totals: Sequence[StageTotal], *, name: str, position: int
) -> None:
    """Add `totals` to the stored ones and move the cursor `name` to `position`.

    The caller's transaction must hold the write lock (SQLite) or lock the cursor row
    (PostgreSQL: :func:`lock_cursor`), so two folds never add the same links twice.
    """
    stored = {
        (r.branch, r.outcome): r for r in (await session.scalars(select(StageTotalRow))).all()
    }
    for total in totals:
        row = stored.get((total.branch, total.outcome))
        if row is None:
            session.add(
                StageTotalRow(
                    branch=total.branch,
                    outcome=total.outcome,
                    count=total.count,
                    sum_s=total.sum_s,
                    buckets=list(total.buckets),
                )
            )
        else:
            row.count += total.count
            row.sum_s += total.sum_s
            row.buckets = [a + b for a, b in zip(row.buckets, total.buckets, strict=True)]
    mark = await session.get(CursorRow, name)
    if mark is None:
        session.add(CursorRow(name=name, position=position))
    else:
        mark.position = position


async def lock_cursor(session: AsyncSession, name: str) -> int:
    """Lock the cursor row `name` (creating it at 0) and return its position.

    On PostgreSQL a second fold waits here until the first commits, then reads its position.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            pg_insert(CursorRow).values(name=name, position=0).on_conflict_do_nothing()
        )
        stmt = select(CursorRow.position).where(CursorRow.name == name).with_for_update()
        return int((await session.execute(stmt)).scalar_one())
    return await cursor(session, name)
