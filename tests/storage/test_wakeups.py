"""Wake-ups: which commits announce work, that only commits do, and a listener that never dies."""

from __future__ import annotations

import asyncio

import pytest

from tests.fixtures.pipeline import CAROL, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import freeze, unfreeze
from triadops.domain.events import (
    Freeze,
    LedgerEvent,
    Queued,
    StepStarted,
    Transition,
    Unfreeze,
)
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.wakeups import Wakeups, WorkListener, makes_work_due, notify_work


def entry(source: str | None, target: str | None, event: str = "transition") -> Queued:
    said: LedgerEvent
    if event == "transition":
        said = Transition(from_status=source, to_status=target, stage_s=0.0)
    elif event == "unfreeze":
        said = Unfreeze(frozen_by="crown", reason="drill")
    elif event == "freeze":
        said = Freeze(reason="drill")
    else:
        said = StepStarted(step=0, action="noop", status="running", attempt=1)
    return Queued(said, "test", "op-w", utcnow())


@pytest.mark.parametrize(
    ("entries", "wakes"),
    [
        ([entry("approved", "scheduled")], True),  # a submission or an approval
        ([entry("in_doubt", "executing")], True),  # a ruling: the step took effect
        ([entry("failed", "rolling_back")], True),  # a ruling: it did not, undo the rest
        ([entry(None, None, "unfreeze")], True),
        # A worker's own moves: it drives them itself.
        ([entry("scheduled", "executing"), entry("executing", "validating")], False),
        ([entry("validating", "completed"), entry(None, None, "step_started")], False),
        ([entry("submitted", "reviewing"), entry("reviewing", "awaiting_approval")], False),
        ([entry(None, None, "freeze")], False),
        ([], False),
    ],
)
def test_only_entries_that_make_work_due_wake_workers(entries: list[Queued], wakes: bool) -> None:
    assert makes_work_due(entries) is wakes


async def settled(wakeups: Wakeups) -> None:
    """Wait for the listener's first connection and spend the wake-up it brings."""
    for _ in range(100):
        if wakeups.listener is None or wakeups.listener.connections:
            break
        await asyncio.sleep(0.05)
    await wakeups.wait(asyncio.Event(), 0)


async def test_a_commit_wakes_local_waiters_and_a_rollback_does_not(runtime: Runtime) -> None:
    async with Wakeups(runtime.engine) as wakeups:
        await settled(wakeups)
        async with runtime.session() as session:
            await notify_work(session)
            await session.rollback()
        assert not await wakeups.wait(asyncio.Event(), 0.3)
        async with runtime.session() as session:
            await notify_work(session)
            await session.commit()
        assert await wakeups.wait(asyncio.Event(), 5)


async def test_submitting_and_unfreezing_wake_but_freezing_does_not(runtime: Runtime) -> None:
    async with Wakeups(runtime.engine) as wakeups:
        await settled(wakeups)
        await submit(runtime, request())
        assert await wakeups.wait(asyncio.Event(), 5)
        # On PostgreSQL the commit wakes this process at once and its NOTIFY arrives after.
        await asyncio.sleep(0.3)
        await wakeups.wait(asyncio.Event(), 0)
        async with runtime.session() as session:
            await freeze(session, by=CAROL, reason="hold")
            await lifecycle.commit(session)
        assert not await wakeups.wait(asyncio.Event(), 0.3)
        async with runtime.session() as session:
            await unfreeze(session, by=CAROL)
            await lifecycle.commit(session)
        assert await wakeups.wait(asyncio.Event(), 5)


async def test_a_listener_that_cannot_connect_keeps_trying_and_stops_cleanly() -> None:
    wake, stop = asyncio.Event(), asyncio.Event()
    nowhere = {"host": "127.0.0.1", "port": 1, "user": "postgres", "database": "nowhere"}
    listener = WorkListener(nowhere, wake, timeout_s=0.5, retry_s=(0.05, 0.1))
    task = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.5)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert listener.connections == 0
    assert not wake.is_set()
