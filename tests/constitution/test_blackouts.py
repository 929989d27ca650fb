"""Blackouts bind manual work: a request is moved past one, the worker never starts inside
one (whatever the row says), an emergency under the crown runs in one, and two operations
on the same system in the same slot are warned about, with the next slot that fits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures.pipeline import CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.lifecycle import Attempt
from triadops.domain.clock import FakeClock, using
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict
from triadops.domain.windows import OneOffBlackout
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import get_operation
from triadops.worker.claims import drive_once

NOW = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)  # a Tuesday, outside the default windows
FREEZE = OneOffBlackout(
    name="release freeze", starts=NOW - timedelta(hours=1), ends=NOW + timedelta(hours=2)
)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with using(FakeClock(NOW)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


@pytest.fixture
async def frozen_rt(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    """A runtime whose settings hold a blackout open now."""
    rt = await Runtime.open(
        settings.model_copy(update={"maintenance_blackouts": [FREEZE]}), migrate=False
    )
    try:
        yield rt
    finally:
        await rt.close()


async def drive_all(rt: Runtime) -> None:
    while await drive_once(rt.powers, owner="w"):
        pass


async def test_a_manual_request_in_a_blackout_is_scheduled_for_its_end(frozen_rt: Runtime) -> None:
    op = await submit(frozen_rt, request())

    assert op.status is OperationStatus.SCHEDULED
    assert op.planning_result is not None
    said = op.planning_result.scheduling_recommendation
    assert "falls in a blackout" in said and FREEZE.ends.isoformat() in said
    async with frozen_rt.session() as session:
        row = await get_operation(session, op.operation_id)
        assert row.scheduled_time == FREEZE.ends
    await drive_all(frozen_rt)
    assert (await load(frozen_rt, op.operation_id)).status is OperationStatus.SCHEDULED


async def test_the_worker_does_not_start_inside_a_blackout_whatever_the_row_says(
    frozen_rt: Runtime, clock: FakeClock
) -> None:
    op = await submit(frozen_rt, request())
    async with frozen_rt.session() as session:  # the row forced due now, inside the blackout
        row = await get_operation(session, op.operation_id)
        row.scheduled_time = NOW - timedelta(minutes=5)
        await session.commit()

    await drive_all(frozen_rt)
    waiting = await load(frozen_rt, op.operation_id)
    assert waiting.status is OperationStatus.SCHEDULED
    assert not any(s.started_at for s in waiting.steps)
    async with frozen_rt.session() as session:  # and it waits for the blackout's end
        row = await get_operation(session, op.operation_id)
        assert row.scheduled_time == FREEZE.ends
        row.scheduled_time = NOW - timedelta(minutes=5)
        attempt = Attempt(row, "executive:w", now=NOW, blackouts=[FREEZE])
        with pytest.raises(Conflict, match="may not start in a blackout"):
            lifecycle.transition(session, attempt, OperationStatus.EXECUTING)
        with pytest.raises(Conflict, match="without the blackouts in force"):
            lifecycle.transition(session, Attempt(row, "x", now=NOW), OperationStatus.EXECUTING)
        await session.rollback()

    clock.advance((FREEZE.ends - NOW).total_seconds() + 1)
    await drive_all(frozen_rt)
    assert (await load(frozen_rt, op.operation_id)).status is OperationStatus.COMPLETED


async def test_an_emergency_under_the_crown_runs_in_a_blackout(frozen_rt: Runtime) -> None:
    urgent = request(
        operation_type="emergency",
        constitutional_authority="crown",
        emergency_priority=True,
        requested_by="carol",
    )
    op = await submit(frozen_rt, urgent, who=CAROL)
    assert op.planning_result is not None
    assert op.planning_result.scheduling_recommendation == "immediate"

    await drive_all(frozen_rt)
    assert (await load(frozen_rt, op.operation_id)).status is OperationStatus.COMPLETED


async def test_the_same_system_in_the_same_slot_is_warned_with_the_next_slot(
    runtime: Runtime, clock: FakeClock
) -> None:
    sunday_window = datetime(2030, 3, 10, 1, 30, tzinfo=UTC)  # weekly, Sunday 01:00-04:00
    first = await submit(runtime, request(affected_systems=["db-1"], scheduled_time=sunday_window))
    other = await submit(runtime, request(affected_systems=["web-1"], scheduled_time=sunday_window))
    second = await submit(
        runtime,
        request(
            affected_systems=["db-1", "web-2"], scheduled_time=sunday_window + timedelta(hours=1)
        ),
    )

    assert first.planning_result is not None and other.planning_result is not None
    assert not any("conflict" in r for r in first.planning_result.risk_reasons)
    assert not any("conflict" in r for r in other.planning_result.risk_reasons)
    assert second.planning_result is not None
    warned = [r for r in second.planning_result.risk_reasons if r.startswith("conflict")]
    # The weekly slot closes at 04:00; the next window is Monday's daily one at 02:00.
    assert warned == [
        f"conflict: {first.operation_id} also changes db-1 in the same slot "
        "(2030-03-10T01:00:00+00:00); next slot that fits: 2030-03-11T02:00:00+00:00"
    ]
    assert second.status is OperationStatus.SCHEDULED  # a warning, not a refusal
