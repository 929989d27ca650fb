"""Two runs of one plan ending at once both count, on either database.

Each transaction creates the record if it has none (``ON CONFLICT DO NOTHING``) and locks
it before counting: the second waits for the first and counts on what it wrote, so no
count is lost and no insert fails.
"""

from __future__ import annotations

import asyncio

from triadops.domain.operations import utcnow
from triadops.domain.standards import Outcome
from triadops.runtime import Runtime
from triadops.storage import standards as store

PLAN = "ab" * 32


async def _count(rt: Runtime, operation_id: str, started: asyncio.Event, go: asyncio.Event) -> None:
    async with rt.session() as session:
        started.set()
        row = await store.record_for(session, PLAN, subject="procedure:x", now=utcnow())
        store.counted(row, Outcome.VALIDATED, operation_id=operation_id, at=utcnow())
        await go.wait()
        await session.commit()


async def test_two_ends_at_once_count_twice(runtime: Runtime) -> None:
    first_in, second_in, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_count(runtime, "op-1", first_in, go))
    await first_in.wait()
    second = asyncio.create_task(_count(runtime, "op-2", second_in, go))
    await second_in.wait()
    go.set()  # the first commits while the second is on its way, or waiting for the lock
    await asyncio.gather(first, second)
    async with runtime.session(read_only=True) as session:
        row = await store.get_standard(session, PLAN)
    assert row is not None
    assert (row.successes, row.streak) == (2, 2)
