"""One long operation never holds the rest: the worker claims into free slots at once.

Issue 16: a low-risk noop sleeping 40 s held every operation after it, the crown's
emergency included, until it ended. Here the long step sleeps for an hour (the point is
that it is still running) while the others finish in their own time, with the real worker.
Every wait is on a condition in the database, never on a guessed duration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.fixtures.pipeline import CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_operation
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.operations import Operation, OperationRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import claim
from triadops.worker.loop import run_worker

pytestmark = pytest.mark.slow
HOUR = 3600.0
CONCURRENCY = 4


def slot_settings(database_url: str, tmp_path: Path) -> Settings:
    """A worker with four slots (three for anything, one kept for emergencies)."""
    home = tmp_path / "home"
    (home / "drills").mkdir(parents=True)
    return Settings(
        home=home,
        database_url=database_url,
        monitor=False,
        worker_concurrency=CONCURRENCY,
        worker_poll_s=0.05,
    )


async def running_worker(runtime: Runtime) -> AsyncIterator[None]:
    """Run the real worker loop, in this process, until the test ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(runtime.powers, stop=stop, owner="w"))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=60)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """A worker with four slots."""
    return slot_settings(database_url, tmp_path)


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[None]:
    """The real worker loop, in this process, until the test ends."""
    async for _ in running_worker(runtime):
        yield


async def until(
    runtime: Runtime, condition: Callable[[], Awaitable[bool]], *, timeout: float = 120
) -> None:
    """Wait for `condition`; the timeout is a generous bound, never the thing tested."""
    end = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < end, "timed out waiting for the condition"
        await asyncio.sleep(0.05)


def long_noop(sleep_s: float = HOUR) -> OperationRequest:
    return request([("noop", {"sleep_s": sleep_s})], description="a long drill")


def emergency() -> OperationRequest:
    return request(
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        emergency_priority=True,
        description="the crown's emergency fix",
    )


async def step_running(runtime: Runtime, operation_id: str, index: int = 0) -> bool:
    op = await load(runtime, operation_id)
    return op.status is OperationStatus.EXECUTING and op.steps[index].status is StepStatus.RUNNING


async def all_final(runtime: Runtime, ops: list[Operation]) -> bool:
    for op in ops:
        if not (await load(runtime, op.operation_id)).status.is_final:
            return False
    return True


async def stop_long(runtime: Runtime, operation_id: str) -> None:
    """Cancel a long drill and wait until its step was interrupted."""
    async with runtime.session() as session:
        await cancel_operation(session, operation_id=operation_id, by=CAROL)
        await lifecycle.commit(session)

    async def ended() -> bool:
        return (await load(runtime, operation_id)).status.is_final

    await until(runtime, ended)


async def test_short_operations_and_an_emergency_finish_beside_a_long_one(
    runtime: Runtime, worker: None
) -> None:
    long = await submit(runtime, long_noop())
    await until(runtime, lambda: step_running(runtime, long.operation_id))

    short = [await submit(runtime, request([("noop", {})])) for _ in range(50)]
    fix = await submit(runtime, emergency(), who=CAROL)
    await until(runtime, lambda: all_final(runtime, [*short, fix]))

    for op in [*short, fix]:
        assert (await load(runtime, op.operation_id)).status is OperationStatus.COMPLETED
    # ... and the long one is still in its step, an hour from its end.
    assert await step_running(runtime, long.operation_id)
    await stop_long(runtime, long.operation_id)


async def test_the_emergency_runs_in_its_kept_slot_when_long_steps_fill_the_rest(
    runtime: Runtime, worker: None
) -> None:
    longs = [await submit(runtime, long_noop()) for _ in range(CONCURRENCY)]

    async def filled() -> bool:
        running = [await step_running(runtime, op.operation_id) for op in longs]
        return sum(running) == CONCURRENCY - 1

    await until(runtime, filled)
    fix = await submit(runtime, emergency(), who=CAROL)
    await until(runtime, lambda: all_final(runtime, [fix]))

    assert (await load(runtime, fix.operation_id)).status is OperationStatus.COMPLETED
    states = [(await load(runtime, op.operation_id)).status for op in longs]
    # Three long steps still hold the ordinary slots; the fourth waits for one of them.
    assert sorted(s.value for s in states) == ["executing"] * 3 + ["scheduled"]
    for op in longs:
        await stop_long(runtime, op.operation_id)


async def test_emergencies_are_claimed_before_older_work(runtime: Runtime) -> None:
    older = [await submit(runtime, long_noop(0)) for _ in range(3)]
    fix = await submit(runtime, emergency(), who=CAROL)
    claimed = await claim(runtime.powers, owner="w", limit=1)
    assert [c.row.id for c in claimed] == [fix.operation_id]
    rest = await claim(runtime.powers, owner="w", limit=10)
    assert [c.row.id for c in rest] == [op.operation_id for op in older]


async def test_no_slot_is_kept_from_an_emergency_by_other_emergencies_alone(
    runtime: Runtime,
) -> None:
    """The kept slot caps ordinary work, never emergencies: each takes any free slot."""
    fixes = [await submit(runtime, emergency(), who=CAROL) for _ in range(3)]
    claimed = await claim(runtime.powers, owner="w", limit=0, emergency_limit=3)
    assert sorted(c.row.id for c in claimed) == sorted(f.operation_id for f in fixes)
