"""Commit subscribers: the runtime registers them, and commit calls each inside its transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.pipeline import request, submit
from triadops.constitution import ledger, lifecycle, subscribers
from triadops.domain.events import Queued, Refused
from triadops.ops import change_silences
from triadops.runtime import Runtime
from triadops.storage import wakeups
from triadops.storage.tables import LedgerRow


def test_the_runtime_registers_change_silences_before_wake_ups(runtime: Runtime) -> None:
    registered = subscribers.registered()
    assert change_silences.on_commit in registered
    assert wakeups.on_commit in registered
    # The silences' own entries are queued before the wake-ups read the entries.
    assert registered.index(change_silences.on_commit) < registered.index(wakeups.on_commit)


class Recorder:
    """A subscriber that keeps what it saw and queues an entry of its own."""

    def __init__(self, *, fail: bool = False) -> None:
        self.seen: list[list[str]] = []
        self.fail = fail

    async def __call__(self, session: AsyncSession, entries: Sequence[Queued]) -> None:
        self.seen.append([e.event.kind for e in entries])
        # Not yet linked: the entries are still queued while subscribers run, typed.
        assert list(entries) == ledger.queued(session)
        assert [e.event.kind for e in entries] == [e["event"] for e in ledger.pending(session)]
        if self.fail:
            raise RuntimeError("subscriber failed")
        if entries:
            ledger.record(session, Refused(action="subscriber_saw", reason="a test"), actor="test")


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    r = Recorder()
    subscribers.register(r)
    subscribers.register(r)  # twice is once
    try:
        yield r
    finally:
        subscribers.unregister(r)
    assert r not in subscribers.registered()


async def events(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        return list((await session.scalars(select(LedgerRow.event).order_by(LedgerRow.seq))).all())


async def test_a_subscriber_sees_the_queued_entries_and_writes_in_the_same_commit(
    runtime: Runtime, recorder: Recorder
) -> None:
    before = await events(runtime)
    await submit(runtime, request())
    assert len(recorder.seen) == 1
    assert recorder.seen[0] and "transition" in recorder.seen[0]
    written = (await events(runtime))[len(before) :]
    # Its entry was linked with the transitions that called for it, after them.
    assert written[-1] == "refused"
    assert written[:-1] == recorder.seen[0]


async def test_a_failing_subscriber_fails_the_commit(runtime: Runtime) -> None:
    failing = Recorder(fail=True)
    subscribers.register(failing)
    before = await events(runtime)
    try:
        with pytest.raises(RuntimeError, match="subscriber failed"):
            await submit(runtime, request())
    finally:
        subscribers.unregister(failing)
    assert failing.seen
    assert await events(runtime) == before


async def test_a_commit_with_nothing_queued_still_calls_subscribers(
    runtime: Runtime, recorder: Recorder
) -> None:
    async with runtime.session() as session:
        await lifecycle.commit(session)
    assert recorder.seen == [[]]
