"""An idle worker starts new work when it is announced, not when its poll comes round."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from tests.fixtures.pipeline import load, request, submit
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.wakeups import APPLICATION_NAME
from triadops.worker.loop import run_worker

POLL_S = 30.0
"""Far longer than any test waits: a worker that starts the work was woken."""

only_postgres = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@asynccontextmanager
async def slowly_polling(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime of its own whose worker polls only every POLL_S."""
    rt = await Runtime.open(settings.model_copy(update={"worker_poll_s": POLL_S}), migrate=False)
    try:
        yield rt
    finally:
        await rt.close()


@asynccontextmanager
async def idle_worker(rt: Runtime) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(rt.powers, stop=stop, owner="sleepy"))
    await asyncio.sleep(0.3)  # its first pass finds nothing; it goes to sleep
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def completed_within(rt: Runtime, operation_id: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if (await load(rt, operation_id)).status is OperationStatus.COMPLETED:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"not completed within {seconds}s: {await load(rt, operation_id)}")


async def listeners(rt: Runtime) -> list[int]:
    async with rt.session() as session:
        rows = await session.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                "AND datname = current_database()"
            ),
            {"name": APPLICATION_NAME},
        )
        return [r.pid for r in rows]


async def test_a_commit_in_the_same_process_wakes_its_worker(settings: Settings) -> None:
    """SQLite's shape (`triad serve`): the API's commit wakes the worker beside it."""
    async with slowly_polling(settings) as rt, idle_worker(rt):
        op = await submit(rt, request())
        assert await completed_within(rt, op.operation_id, 5) < 3


@only_postgres
async def test_a_notify_wakes_a_worker_with_its_own_connections(
    runtime: Runtime, settings: Settings
) -> None:
    """The worker shares nothing with the submitter but the database: only NOTIFY wakes it."""
    async with slowly_polling(settings) as worker, idle_worker(worker):
        op = await submit(runtime, request())
        assert await completed_within(runtime, op.operation_id, 5) < 3


@only_postgres
async def test_a_dropped_listener_reconnects_and_hears_the_next_notify(
    runtime: Runtime, settings: Settings
) -> None:
    async with slowly_polling(settings) as worker, idle_worker(worker):
        [first] = await listeners(runtime)
        async with runtime.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        deadline = time.monotonic() + 5
        while (now := await listeners(runtime)) in ([], [first]):
            assert time.monotonic() < deadline, "the listener did not come back"
            await asyncio.sleep(0.05)
        assert len(now) == 1
        await asyncio.sleep(0.5)  # the reconnection's own wake-up is spent
        op = await submit(runtime, request())
        assert await completed_within(runtime, op.operation_id, 5) < 3
