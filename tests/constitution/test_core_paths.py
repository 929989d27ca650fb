"""Core paths no other test drives: windows, recent failures, timeouts, crashes, skipped undo,
and a cancel or a freeze that meets an operation as its worker starts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.fixtures.fakes import MisbehavingAction
from tests.fixtures.pipeline import CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.commits import GroupCommitter
from triadops.constitution.crown.service import cancel_operation, freeze
from triadops.constitution.journey import Journey
from triadops.domain.enums import OperationStatus, Risk, StepStatus
from triadops.runtime import Runtime
from triadops.storage.operations import get_operation
from triadops.worker.claims import claim, drive_once
from triadops.worker.lease_keeper import LeaseKeeper

PURGE = [("database.purge_audit_logs", {"older_than_days": 30})]


def plain_day_at(hour: int, minute: int) -> datetime:
    """A coming day only the daily window covers: not a Sunday, not the 1st of a month."""
    day = datetime.now(UTC).date() + timedelta(days=1)
    while day.weekday() == 6 or day.day == 1:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def drive_all(rt: Runtime) -> None:
    while await drive_once(rt.powers, owner="w"):
        pass


async def test_medium_risk_is_auto_approved_only_inside_a_window(runtime: Runtime) -> None:
    inside = await submit(
        runtime, request(PURGE, rollback_plan="restore", scheduled_time=plain_day_at(2, 10))
    )
    outside = await submit(
        runtime, request(PURGE, rollback_plan="restore", scheduled_time=plain_day_at(3, 30))
    )
    assert inside.planning_result is not None and outside.planning_result is not None
    assert inside.planning_result.risk_level is Risk.MEDIUM
    assert inside.status is OperationStatus.SCHEDULED
    assert outside.status is OperationStatus.AWAITING_APPROVAL
    assert outside.planning_result.required_approvals == ["legislative"]


async def test_recent_failures_of_a_procedure_raise_its_risk(runtime: Runtime) -> None:
    for _ in range(2):
        failed = await submit(runtime, request(procedure="cache_cleanup"))
        async with runtime.session() as session:
            row = await get_operation(session, failed.operation_id)
            lifecycle.transition(session, lifecycle.Attempt(row, "test"), OperationStatus.FAILED)
            await lifecycle.commit(session)
    third = await submit(runtime, request(procedure="cache_cleanup"))
    assert third.planning_result is not None
    assert "2 recent failures of cache_cleanup" in third.planning_result.risk_reasons
    assert third.planning_result.risk_level is Risk.MEDIUM


async def test_a_step_past_its_timeout_or_crashing_fails_alone(runtime: Runtime) -> None:
    runtime.actions.register(MisbehavingAction())
    slow = await submit(runtime, request([("noop", {}), ("test.misbehaving", {"hang_s": 5})]))
    buggy = await submit(runtime, request([("test.misbehaving", {"crash": True})]))
    fine = await submit(runtime, request())
    await drive_all(runtime)

    timed_out = await load(runtime, slow.operation_id)
    assert timed_out.status is OperationStatus.ROLLED_BACK
    assert timed_out.steps[1].error == "test.misbehaving timed out after 0.2s"
    assert timed_out.steps[0].status is StepStatus.ROLLED_BACK
    crashed = await load(runtime, buggy.operation_id)
    assert crashed.status is OperationStatus.FAILED
    assert crashed.steps[0].error == "KeyError: 'a bug in the action'"
    assert (await load(runtime, fine.operation_id)).status is OperationStatus.COMPLETED


async def test_an_irreversible_step_met_during_rollback_is_skipped(runtime: Runtime) -> None:
    steps = [("noop", {}), ("database.reset_stats", {}), ("noop", {"fail": True})]
    op = await submit(runtime, request(steps, rollback_plan="statistics refill on their own"))
    await drive_all(runtime)
    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.ROLLED_BACK
    assert [s.status for s in done.steps] == [
        StepStatus.ROLLED_BACK,
        StepStatus.SKIPPED,
        StepStatus.FAILED,
    ]
    assert done.steps[1].rollback_output["reason"] == "database.reset_stats is irreversible"


async def test_a_cancel_that_meets_the_start_holds(runtime: Runtime) -> None:
    op = await submit(runtime, request())
    [claimed] = await claim(runtime.powers, owner="A", limit=1)
    async with runtime.session() as session:  # leased: the cancel is a request
        await cancel_operation(session, operation_id=op.operation_id, by=CAROL)
        await lifecycle.commit(session)
    async with (
        LeaseKeeper(runtime.sessions, owner="A", lease_s=30) as leases,
        GroupCommitter(runtime.sessions, owner="A", lease_s=30) as gc,
    ):
        await Journey(runtime.powers, gc, "A", claimed, leases).run()
    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.CANCELLED
    assert done.steps[0].started_at is None


async def test_a_freeze_that_meets_the_start_holds_the_work(runtime: Runtime) -> None:
    op = await submit(runtime, request())
    [claimed] = await claim(runtime.powers, owner="A", limit=1)
    async with runtime.session() as session:
        await freeze(session, by=CAROL, reason="incident")
        await lifecycle.commit(session)
    async with (
        LeaseKeeper(runtime.sessions, owner="A", lease_s=30) as leases,
        GroupCommitter(runtime.sessions, owner="A", lease_s=30) as gc,
    ):
        await Journey(runtime.powers, gc, "A", claimed, leases).run()
    held = await load(runtime, op.operation_id)
    assert held.status is OperationStatus.SCHEDULED
    assert held.steps[0].started_at is None
    async with runtime.session(read_only=True) as session:
        assert (await get_operation(session, op.operation_id)).lease_owner is None
