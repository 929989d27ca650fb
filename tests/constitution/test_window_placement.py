"""Work that needs a window: placed at the quietest slot or the next that fits, started only
inside it (the gate), waited for by the worker with the move in the ledger, re-placed on an
amendment, and never binding an emergency.

The doors of "work that needs a window starts only inside it": the legislature's placement
(no time; a time outside), a row forced due now (the worker's start, the gate on the edge),
a start attempted without the windows in force, an amendment after the slot passed, and a
blackout configured after the submission. Each is tested below.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.fixtures.pipeline import ALICE, CAROL, load, request, submit
from triadops.actions.procedures.model import Procedure
from triadops.constitution import lifecycle
from triadops.constitution.crown import audit
from triadops.constitution.legislative.service import amend_operation
from triadops.constitution.lifecycle import Attempt
from triadops.domain.clock import FakeClock, using
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.domain.operations import StepSpec
from triadops.domain.windows import MaintenanceWindow, OneOffBlackout
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import usage
from triadops.storage.ledger import select_operation_entries as entries_for
from triadops.storage.operations import get_operation
from triadops.storage.tables import StepRow
from triadops.worker.claims import drive_once

QUIET = {(28, 2), (28, 3)}
"""Thursday 28 February 2030, 02:00 to 04:00."""
TUESDAY = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)  # outside the default windows
NIGHTLY = MaintenanceWindow(name="nightly", every="daily", start=time(1, 0), duration_min=180)
WEEKLY = MaintenanceWindow(
    name="weekly", every="weekly", start=time(1, 0), duration_min=180, weekday=6
)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with using(FakeClock(TUESDAY)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


async def opened(settings: Settings, **changes: object) -> Runtime:
    return await Runtime.open(settings.model_copy(update=changes), migrate=False)


@pytest.fixture
async def rt(settings: Settings, clock: FakeClock) -> AsyncIterator[Runtime]:
    runtime = await opened(settings, maintenance_windows=[NIGHTLY, WEEKLY])
    try:
        yield runtime
    finally:
        await runtime.close()


async def drive_all(rt: Runtime) -> None:
    while await drive_once(rt.powers, owner="w"):
        pass


async def clean(rt: Runtime) -> None:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.ok, [str(d) for d in report.discrepancies] or report.problem


async def scheduled_time(rt: Runtime, operation_id: str) -> datetime | None:
    async with rt.session() as session:
        return (await get_operation(session, operation_id)).scheduled_time


async def test_work_without_a_time_is_placed_on_the_quiet_night(rt: Runtime) -> None:
    # Last week every night busy but Thursday's from 02:00 (triad's own API usage).
    history = {
        datetime(2030, 2, day, h, 5 * i, tzinfo=UTC): 3 if (day, h) in QUIET else 80
        for day in range(25, 32 - 3)
        for h in range(1, 4)
        for i in range(12)
    } | {
        datetime(2030, 3, day, h, 5 * i, tzinfo=UTC): 80
        for day in range(1, 4)
        for h in range(1, 4)
        for i in range(12)
    }
    async with rt.session() as session:
        await usage.set_counts(session, usage.API, history)
        await lifecycle.commit(session)

    op = await submit(rt, request(window="nightly"))

    assert op.status is OperationStatus.SCHEDULED
    thursday_2am = datetime(2030, 3, 7, 2, 0, tzinfo=UTC)
    assert await scheduled_time(rt, op.operation_id) == thursday_2am
    assert op.planning_result is not None
    said = op.planning_result.scheduling_recommendation
    assert "placed in window nightly" in said
    assert "occurrence 2030-03-07T01:00:00+00:00 to 2030-03-07T04:00:00+00:00" in said
    assert "3.0 requests per 5 minutes from triad's own usage" in said
    assert "30 min (the 30-minute minimum)" in said
    await clean(rt)


async def test_history_lengthens_the_slot(rt: Runtime, clock: FakeClock) -> None:
    done = await submit(rt, request(window="any", scheduled_time=TUESDAY + timedelta(hours=14)))
    clock.advance(14 * 3600)
    await drive_all(rt)
    assert (await load(rt, done.operation_id)).status is OperationStatus.COMPLETED
    async with rt.session() as session:  # a run of 2 h 30 on record, for the p90
        await session.execute(
            update(StepRow)
            .where(StepRow.operation_id == done.operation_id)
            .values(duration_s=9000.0)
        )
        await session.commit()

    op = await submit(rt, request(window="nightly"))

    assert op.planning_result is not None
    said = op.planning_result.scheduling_recommendation
    assert "for 150 min (the p90 of 1 completed runs of maintenance without a procedure)" in said
    due = await scheduled_time(rt, op.operation_id)
    assert due is not None and time(1, 0) <= due.time() <= time(1, 30)


async def test_a_time_outside_its_window_moves_to_the_next_slot_that_fits(rt: Runtime) -> None:
    op = await submit(rt, request(window="weekly", scheduled_time=TUESDAY))

    sunday = datetime(2030, 3, 10, 1, 0, tzinfo=UTC)
    assert await scheduled_time(rt, op.operation_id) == sunday
    assert op.planning_result is not None
    said = op.planning_result.scheduling_recommendation
    assert (
        "is outside window weekly" in said and f"next slot that fits: {sunday.isoformat()}" in said
    )


async def test_an_unknown_window_is_refused_naming_the_field(rt: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="no maintenance window named 'fortnightly'") as err:
        await submit(rt, request(window="fortnightly"))
    assert err.value.field == "window"


async def test_the_attacker_forcing_weekly_work_due_on_a_tuesday_is_not_started(
    rt: Runtime, clock: FakeClock
) -> None:
    op = await submit(rt, request(window="weekly", scheduled_time=TUESDAY))
    async with rt.session() as session:  # past every service: the row forced due now
        row = await get_operation(session, op.operation_id)
        row.scheduled_time = TUESDAY - timedelta(minutes=1)
        await session.commit()

    await drive_all(rt)

    waiting = await load(rt, op.operation_id)
    assert waiting.status is OperationStatus.SCHEDULED
    assert not any(s.started_at for s in waiting.steps)
    sunday = datetime(2030, 3, 10, 1, 0, tzinfo=UTC)
    assert await scheduled_time(rt, op.operation_id) == sunday
    async with rt.session() as session:
        moves = [e for e in await entries_for(session, op.operation_id) if e.event == "rescheduled"]
        assert [(m.details["at"], m.details["because"]) for m in moves] == [
            (sunday.isoformat(), "window")
        ]
        row = await get_operation(session, op.operation_id)
        row.scheduled_time = TUESDAY
        windows = rt.settings.maintenance_windows
        with pytest.raises(Conflict, match="needs window weekly and may not start outside it"):
            lifecycle.transition(
                session,
                Attempt(row, "executive:w", now=TUESDAY, blackouts=[], windows=windows),
                OperationStatus.EXECUTING,
            )
        with pytest.raises(Conflict, match="without the windows in force"):
            lifecycle.transition(
                session, Attempt(row, "x", now=TUESDAY, blackouts=[]), OperationStatus.EXECUTING
            )
        await session.rollback()
    await clean(rt)  # the worker's move is in the ledger: the row is what it says

    clock.advance((sunday - TUESDAY).total_seconds())
    await drive_all(rt)
    assert (await load(rt, op.operation_id)).status is OperationStatus.COMPLETED
    await clean(rt)


async def test_an_emergency_under_the_crown_is_never_moved(rt: Runtime) -> None:
    urgent = request(
        operation_type="emergency",
        constitutional_authority="crown",
        emergency_priority=True,
        requested_by="carol",
        window="weekly",
    )
    op = await submit(rt, urgent, who=CAROL)
    assert op.planning_result is not None
    assert op.planning_result.scheduling_recommendation == "immediate"

    await drive_all(rt)
    assert (await load(rt, op.operation_id)).status is OperationStatus.COMPLETED


async def test_a_blackout_configured_later_moves_the_work_in_the_ledger(
    rt: Runtime, settings: Settings, clock: FakeClock
) -> None:
    due = datetime(2030, 3, 6, 1, 0, tzinfo=UTC)
    op = await submit(rt, request(window="nightly", scheduled_time=due))
    assert await scheduled_time(rt, op.operation_id) == due
    freeze = OneOffBlackout(
        name="freeze", starts=due - timedelta(hours=1), ends=due + timedelta(hours=1)
    )
    later = await opened(
        settings, maintenance_windows=[NIGHTLY, WEEKLY], maintenance_blackouts=[freeze]
    )
    try:
        clock.advance((due - TUESDAY).total_seconds())
        await drive_all(later)
        assert (await load(later, op.operation_id)).status is OperationStatus.SCHEDULED
        # Inside the blackout: the next slot of the window clear of it is its end.
        assert await scheduled_time(later, op.operation_id) == freeze.ends
        async with later.session() as session:
            moves = [
                e for e in await entries_for(session, op.operation_id) if e.event == "rescheduled"
            ]
        assert [m.details["because"] for m in moves] == ["blackout"]
        await clean(later)
        clock.advance(3600)
        await drive_all(later)
        assert (await load(later, op.operation_id)).status is OperationStatus.COMPLETED
        await clean(later)
    finally:
        await later.close()


async def test_an_amendment_after_the_slot_passed_places_the_work_again(
    rt: Runtime, clock: FakeClock
) -> None:
    due = datetime(2030, 3, 6, 1, 0, tzinfo=UTC)
    op = await submit(rt, request(window="nightly", scheduled_time=due))
    clock.advance((due - TUESDAY).total_seconds() + 4 * 3600)  # 05:00: the window closed

    async with rt.session() as session:
        await amend_operation(
            session,
            rt.powers,
            operation_id=op.operation_id,
            steps=[
                StepSpec(action="noop", params={"sleep_s": 0.0}),
                StepSpec(action="noop", params={}),
            ],
            by=ALICE,
        )
        await lifecycle.commit(session)

    assert await scheduled_time(rt, op.operation_id) == datetime(2030, 3, 7, 1, 0, tzinfo=UTC)
    amended = await load(rt, op.operation_id)
    assert amended.planning_result is not None
    assert (
        "next slot that fits: 2030-03-07T01:00:00+00:00"
        in amended.planning_result.scheduling_recommendation
    )
    await clean(rt)


async def test_a_window_in_a_dst_zone_places_in_local_time(
    settings: Settings, clock: FakeClock
) -> None:
    london = MaintenanceWindow(
        name="night", every="daily", start=time(1, 30), duration_min=60, timezone="Europe/London"
    )
    runtime = await opened(settings, maintenance_windows=[london])
    try:
        # Saturday 24 October 2026, noon: London falls back on Sunday the 25th at 02:00 BST.
        clock.advance((datetime(2026, 10, 24, 12, tzinfo=UTC) - TUESDAY).total_seconds())
        first = await submit(runtime, request(window="night"))
        after = await submit(
            runtime, request(window="night", scheduled_time=datetime(2026, 10, 25, 3, tzinfo=UTC))
        )
        assert await scheduled_time(runtime, first.operation_id) == datetime(
            2026,
            10,
            25,
            0,
            30,
            tzinfo=UTC,  # 01:30 BST, the first of the two 01:30s
        )
        assert await scheduled_time(runtime, after.operation_id) == datetime(
            2026,
            10,
            26,
            1,
            30,
            tzinfo=UTC,  # 01:30 GMT
        )
    finally:
        await runtime.close()


WEEKLY_DRILL = """
name = "weekly_drill"
description = "A drill that needs the weekly window"
operation_type = "maintenance"
constitutional_authority = "executive"
risk = "low"
rollback_plan = "Nothing to undo."
validation_criteria = ["system_functionality_maintained"]
expected_duration_s = 5400
window = "weekly"

[[steps]]
action = "noop"
"""


async def test_a_procedures_window_binds_its_requests_and_its_duration_sizes_the_slot(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    folder = tmp_path / "procedures"
    folder.mkdir()
    (folder / "weekly_drill.toml").write_text(WEEKLY_DRILL)
    runtime = await opened(
        settings, maintenance_windows=[NIGHTLY, WEEKLY], procedure_folders=[folder]
    )
    try:
        op = await submit(runtime, request(procedure="weekly_drill", scheduled_time=TUESDAY))
        sunday = datetime(2030, 3, 10, 1, 0, tzinfo=UTC)
        assert await scheduled_time(runtime, op.operation_id) == sunday
        assert op.request.window == "weekly"  # stored: the gate reads it from the row
        assert op.planning_result is not None
        said = op.planning_result.scheduling_recommendation
        assert "90 min (the procedure's expected_duration_s)" in said
    finally:
        await runtime.close()


def test_a_procedure_without_a_window_hashes_as_before() -> None:
    declared = tomllib.loads(WEEKLY_DRILL)
    without = Procedure.model_validate({k: v for k, v in declared.items() if k != "window"})
    canonical = json.dumps(
        without.model_dump(mode="json", exclude={"window"}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert without.digest() == hashlib.sha256(canonical.encode()).hexdigest()
    assert Procedure.model_validate(declared).digest() != without.digest()


async def test_an_emergency_typed_request_is_not_held_by_its_window(rt: Runtime) -> None:
    # The emergency type skips windows in the legislature, without emergency_priority too;
    # the gate and the worker agree.
    urgent = request(
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        window="weekly",
    )
    op = await submit(rt, urgent, who=CAROL)
    assert op.planning_result is not None
    assert op.planning_result.scheduling_recommendation == "immediate"

    await drive_all(rt)
    assert (await load(rt, op.operation_id)).status is OperationStatus.COMPLETED


async def test_work_whose_window_was_removed_waits_and_says_why(
    rt: Runtime, settings: Settings, clock: FakeClock
) -> None:
    op = await submit(rt, request(window="weekly", scheduled_time=TUESDAY))
    sunday = datetime(2030, 3, 10, 1, 0, tzinfo=UTC)
    later = await opened(settings, maintenance_windows=[NIGHTLY])  # weekly is gone
    try:
        clock.advance((sunday - TUESDAY).total_seconds())
        await drive_all(later)
        waiting = await load(later, op.operation_id)
        assert waiting.status is OperationStatus.SCHEDULED
        async with later.session() as session:
            entries = await entries_for(session, op.operation_id)
        (move,) = [e for e in entries if e.event == "rescheduled"]
        assert "no slot of window weekly within 400 days" in move.details["reason"]
        await clean(later)
    finally:
        await later.close()
