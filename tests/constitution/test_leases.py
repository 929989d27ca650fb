"""A worker whose lease lapsed never overrides a cancel or an amendment that was accepted.

The attack of issue 5 hole 5: the lease runs out while the worker is busy (it used to during
the pre-run measurements); a cancel or an amend answers "done"; the worker then commits
anyway and runs the superseded plan. Ten operations at once, as in the report.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures.pipeline import ALICE, CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.commits import GroupCommitter
from triadops.constitution.crown.service import cancel_operation
from triadops.constitution.journey import Claimed, Journey
from triadops.constitution.legislative.service import amend_operation
from triadops.domain.clock import FakeClock
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import StepSpec
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import get_operation
from triadops.storage.tables import OperationRow
from triadops.worker.claims import claim, drive_once
from triadops.worker.lease_keeper import LeaseKeeper

LEASE_S = 0.3


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Short leases, so a test can let one lapse."""
    home = tmp_path / "home"
    (home / "drills").mkdir(parents=True)
    return Settings(home=home, database_url=database_url, lease_s=LEASE_S)


def marker(rt: Runtime, name: str) -> Path:
    return rt.settings.home / "drills" / name


async def lapsed_claims(rt: Runtime, count: int, clock: FakeClock) -> list[Claimed]:
    """Claim `count` operations as worker A and let every lease lapse unrenewed."""
    claimed = await claim(rt.powers, owner="A", limit=count)
    assert len(claimed) == count
    clock.advance(LEASE_S * 1.5)
    return claimed


async def run_as_a(rt: Runtime, claimed: list[Claimed]) -> None:
    async with (
        LeaseKeeper(rt.sessions, owner="A", lease_s=LEASE_S) as leases,
        GroupCommitter(rt.sessions, owner="A", lease_s=LEASE_S) as gc,
    ):
        await asyncio.gather(*(Journey(rt.powers, gc, "A", c, leases).run() for c in claimed))


async def test_a_cancel_accepted_after_the_lease_lapsed_holds(
    runtime: Runtime, clock: FakeClock
) -> None:
    ops = [
        await submit(runtime, request([("noop", {"marker": str(marker(runtime, f"c{i}"))})]))
        for i in range(10)
    ]
    claimed = await lapsed_claims(runtime, 10, clock)
    for op in ops:
        async with runtime.session() as session:
            row = await cancel_operation(session, operation_id=op.operation_id, by=CAROL)
            assert row.status == OperationStatus.CANCELLED.value
            await lifecycle.commit(session)

    await run_as_a(runtime, claimed)

    for i, op in enumerate(ops):
        assert (await load(runtime, op.operation_id)).status is OperationStatus.CANCELLED
        assert not marker(runtime, f"c{i}").exists()


async def test_an_amendment_accepted_after_the_lease_lapsed_holds(
    runtime: Runtime, clock: FakeClock
) -> None:
    ops = [
        await submit(runtime, request([("noop", {"marker": str(marker(runtime, f"old{i}"))})]))
        for i in range(10)
    ]
    claimed = await lapsed_claims(runtime, 10, clock)
    for i, op in enumerate(ops):
        new = StepSpec(action="noop", params={"marker": str(marker(runtime, f"new{i}"))})
        async with runtime.session() as session:
            await amend_operation(
                session, runtime.powers, operation_id=op.operation_id, steps=[new], by=ALICE
            )
            await lifecycle.commit(session)

    await run_as_a(runtime, claimed)
    for i in range(10):
        assert not marker(runtime, f"old{i}").exists()
        assert not marker(runtime, f"new{i}").exists()

    # The amended plan (low risk, approved by the rules) then runs once, as amended.
    while await drive_once(runtime.powers, owner="B"):
        pass
    for i, op in enumerate(ops):
        done = await load(runtime, op.operation_id)
        assert done.status is OperationStatus.COMPLETED
        assert done.steps[0].params["marker"] == str(marker(runtime, f"new{i}"))
        assert not marker(runtime, f"old{i}").exists()
        assert len(marker(runtime, f"new{i}").read_text().splitlines()) == 1


async def test_a_step_longer_than_many_leases_keeps_its_lease(
    runtime: Runtime, clock: FakeClock
) -> None:
    """The keeper renews on its own timer while a step runs, committing nothing itself.

    The clock moves half a lease at a time, and each time the test waits for the renewal
    it must bring: no lease can lapse while the test waits, so nothing here is timing.
    """
    op = await submit(runtime, request([("noop", {"sleep_s": 3600})]))
    driving = asyncio.create_task(drive_once(runtime.powers, owner="A"))

    async def stored() -> OperationRow:
        async with runtime.session(read_only=True) as session:
            return await get_operation(session, op.operation_id)

    async def renewed_past(mark: datetime) -> None:
        while True:
            row = await stored()
            if row.lease_expires_at is not None and row.lease_expires_at > mark:
                return
            assert not driving.done(), "the journey ended"
            await asyncio.sleep(0.01)

    await renewed_past(clock.now())
    for _ in range(10):  # five leases' worth of time
        clock.advance(LEASE_S / 2)
        await renewed_past(clock.now() + timedelta(seconds=LEASE_S * 0.6))
        assert await claim(runtime.powers, owner="B", limit=1) == []
    row = await stored()
    assert (row.status, row.lease_owner) == (OperationStatus.EXECUTING.value, "A")

    async with runtime.session() as session:
        await cancel_operation(session, operation_id=op.operation_id, by=CAROL)
        await lifecycle.commit(session)
    await asyncio.wait_for(driving, timeout=120)
    assert (await load(runtime, op.operation_id)).status is OperationStatus.FAILED
