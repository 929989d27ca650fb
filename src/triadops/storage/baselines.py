"""Stored performance baselines, such as a database's round-trip latency."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.operations import utcnow
from triadops.storage.tables import BaselineRow


async def get_baseline(session: AsyncSession, *, name: str) -> BaselineRow | None:
    """Return the baseline called `name`, or None when none was stored."""
    return await session.get(BaselineRow, name)


async def set_baseline(
    session: AsyncSession,
    *,
    name: str,
    value: float,
    unit: str,
    measured_at: datetime | None = None,
) -> BaselineRow:
    """Store (or replace) the baseline called `name`; the caller commits."""
    row = await session.get(BaselineRow, name)
    if row is None:
        row = BaselineRow(name=name)
        session.add(row)
    row.value = value
    row.unit = unit
    row.measured_at = measured_at or utcnow()
    await session.flush()
    return row


def db_latency_name(target: str) -> str:
    """Return the baseline name of a database target's round-trip latency, in seconds."""
    return f"db_latency_s:{target}"
