"""Triad's own load per 5-minute bucket, and the durations of a procedure's completed runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from triadops.domain.enums import OperationStatus
from triadops.domain.placement import bucket_start
from triadops.storage.tables import OperationRow, StepRow, UsageBucketRow

API = "api"
OPERATIONS = "operations"
RUNS_READ = 50
"""The most completed runs of one procedure an expected duration is read from."""
HISTORY_READ = 40_000
"""The most buckets one read returns (90 days of two sources is 51,840: one source's fits)."""


def counts_by_bucket(moments: Iterable[datetime]) -> Counter[datetime]:
    """Count moments by the 5-minute bucket they fall in."""
    return Counter(bucket_start(m) for m in moments)


async def add_counts(conn: AsyncConnection, source: str, counts: Mapping[datetime, int]) -> None:
    """Add `counts` to their buckets (an increment: another process's counts stay)."""
    if not counts:
        return
    postgres = conn.dialect.name == "postgresql"
    insert = (pg_insert if postgres else sqlite_insert)(UsageBucketRow)
    rows = [{"bucket": b, "source": source, "count": c} for b, c in sorted(counts.items())]
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[UsageBucketRow.bucket, UsageBucketRow.source],
            set_={"count": UsageBucketRow.count + insert.excluded["count"]},
        ),
        rows,
    )


async def set_counts(session: AsyncSession, source: str, counts: Mapping[datetime, int]) -> None:
    """Store `counts` as their buckets' figures (one writer recounts them: the leader)."""
    if not counts:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = (pg_insert if postgres else sqlite_insert)(UsageBucketRow)
    rows = [{"bucket": b, "source": source, "count": c} for b, c in sorted(counts.items())]
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[UsageBucketRow.bucket, UsageBucketRow.source],
            set_={"count": insert.excluded["count"]},
        ),
        rows,
    )


async def latest_bucket(session: AsyncSession, source: str) -> datetime | None:
    """Return the newest bucket recorded for `source`, or None."""
    stmt = select(func.max(UsageBucketRow.bucket)).where(UsageBucketRow.source == source)
    found: datetime | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def submitted_since(session: AsyncSession, since: datetime) -> list[datetime]:
    """Return when each operation submitted at or after `since` was (through its index)."""
    stmt = select(OperationRow.created_at).where(OperationRow.created_at >= since)
    return list((await session.execute(stmt)).scalars())


async def recorded(
    session: AsyncSession, *, since: datetime, sources: Iterable[str] = (API, OPERATIONS)
) -> list[tuple[datetime, float]]:
    """Return (bucket, count) since `since`, the sources summed, oldest first (bounded)."""
    stmt = (
        select(UsageBucketRow.bucket, func.sum(UsageBucketRow.count))
        .where(UsageBucketRow.bucket >= since, UsageBucketRow.source.in_(list(sources)))
        .group_by(UsageBucketRow.bucket)
        .order_by(UsageBucketRow.bucket.desc())
        .limit(HISTORY_READ)
    )
    rows = (await session.execute(stmt)).all()
    return [(bucket, float(count)) for bucket, count in reversed(rows)]


async def prune(session: AsyncSession, *, before: datetime) -> int:
    """Delete buckets older than `before`; return how many went."""
    result = await session.execute(delete(UsageBucketRow).where(UsageBucketRow.bucket < before))
    return int(getattr(result, "rowcount", 0) or 0)


async def completed_durations(
    session: AsyncSession, *, procedure: str | None, operation_type: str
) -> list[float]:
    """Return how long the newest completed runs took (their steps' time summed, seconds).

    A procedure's own runs when the request names one, else its operation type's runs
    without a procedure; at most ``RUNS_READ`` of them.
    """
    runs = (
        select(OperationRow.id)
        .where(OperationRow.status == OperationStatus.COMPLETED.value)
        .where(
            OperationRow.procedure == procedure
            if procedure
            else (OperationRow.procedure.is_(None))
            & (OperationRow.operation_type == operation_type)
        )
        .order_by(OperationRow.created_at.desc())
        .limit(RUNS_READ)
        .subquery()
    )
    stmt = (
        select(func.sum(StepRow.duration_s))
        .where(StepRow.operation_id.in_(select(runs.c.id)))
        .group_by(StepRow.operation_id)
    )
    return [float(total) for total in (await session.execute(stmt)).scalars() if total]
