"""Each branch's figures from real rows, and stored reports with a bounded history."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.fixtures.api import drive
from tests.fixtures.pipeline import CAROL, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_operation
from triadops.domain.clock import utcnow
from triadops.domain.enums import OperationStatus
from triadops.domain.health import CheckStatus, HealthCheck, HealthReport, HealthStatus
from triadops.ops import stages
from triadops.ops.health import check_health, history, latest, save_report, store_report
from triadops.ops.health.branches import BRANCHES, BranchCollector
from triadops.ops.health.collectors import Reading
from triadops.ops.health.report import build_report
from triadops.runtime import Runtime
from triadops.storage import workers


async def branch_checks(rt: Runtime, *, now_s: float = 0) -> dict[tuple[str, str], HealthCheck]:
    collector = BranchCollector(rt.powers.reading, rt.settings.health)
    reading = Reading(now=utcnow() + timedelta(seconds=now_s))
    return {(c.component, c.name): c for c in await collector.collect(reading)}


async def test_an_idle_system_passes_without_figures_and_availability_is_unknown(
    runtime: Runtime,
) -> None:
    checks = await branch_checks(runtime)
    assert (
        {b for b, _ in checks}
        == set(BRANCHES)
        == {
            "legislative",
            "executive",
            "judicial",
            "crown",
        }
    )
    compliance = checks[("executive", "compliance")]
    assert compliance.detail == "no operations finished in the window"
    # The crown's stages are people acknowledging: waiting for a person is not its latency.
    assert ("crown", "decision_s") not in checks
    for branch in BRANCHES:
        if branch != "crown":
            duration = checks[(branch, "decision_s")]
            assert (duration.status, duration.value) == (CheckStatus.PASS, None)
            assert duration.detail == "no stages in the window"
        available = checks[(branch, "availability")]
        assert (available.status, available.detail) == (
            CheckStatus.UNKNOWN,
            "no worker has beaten yet",
        )


async def test_compliance_and_errors_come_from_finished_operations_and_stages(
    runtime: Runtime,
) -> None:
    await submit(runtime, request())
    await submit(runtime, request())
    await submit(runtime, request(steps=[("noop", {"fail": True})]))
    await drive(runtime)
    await stages.fold_all(runtime.powers)

    checks = await branch_checks(runtime)

    compliance = checks[("executive", "compliance")]
    assert compliance.status is CheckStatus.FAIL
    assert compliance.value == round(2 / 3, 6)
    assert compliance.detail == "2 of 3 finished operations passed every criterion"
    # Compliance is the executive's: the other branches did not carry the changes out.
    assert [b for b, name in checks if name == "compliance"] == ["executive"]
    executive_errors = checks[("executive", "error_rate")]
    assert executive_errors.status is CheckStatus.FAIL
    assert executive_errors.value is not None and executive_errors.value > 0.01
    legislative = checks[("legislative", "error_rate")]
    assert (legislative.status, legislative.value) == (CheckStatus.PASS, 0.0)
    duration = checks[("legislative", "decision_s")]
    assert duration.status is CheckStatus.PASS
    assert duration.value is not None and duration.value >= 0
    # Operations created before the window are not counted.
    later = await branch_checks(runtime, now_s=runtime.settings.health.window_s + 60)
    assert later[("executive", "compliance")].value is None


async def test_recent_figures_start_from_the_windows_first_stored_report(
    runtime: Runtime,
) -> None:
    await submit(runtime, request(steps=[("noop", {"fail": True})]))
    await drive(runtime)
    await stages.fold_all(runtime.powers)
    first = await check_health(runtime.powers)
    assert first.counters.stage_totals, "the report keeps the totals it read"
    executive = next(c for c in first.components if c.name == "executive")
    assert any(c.name == "error_rate" and c.status is CheckStatus.FAIL for c in executive.checks)
    await save_report(runtime.powers, first)

    await submit(runtime, request())
    await drive(runtime)
    await stages.fold_all(runtime.powers)
    checks = await branch_checks(runtime)

    # Only the stages since the stored report count: the failure is older than that.
    assert checks[("executive", "error_rate")].status is CheckStatus.PASS
    assert checks[("executive", "error_rate")].value == 0.0
    assert "stages failed" in checks[("executive", "error_rate")].detail


async def beating(rt: Runtime) -> None:
    """A worker that beat every 10 s for the last two minutes."""
    now = utcnow()
    for seconds in range(-120, 1, 10):
        async with rt.session() as session:
            t = now + timedelta(seconds=seconds)
            await workers.beat(session, name="w1", now=t, started_at=now - timedelta(seconds=120))
            await session.commit()


async def test_availability_from_a_beating_worker_is_shared_by_the_branches(
    runtime: Runtime,
) -> None:
    await beating(runtime)
    checks = await branch_checks(runtime)
    for branch in BRANCHES:
        available = checks[(branch, "availability")]
        assert (available.status, available.value) == (CheckStatus.PASS, 1.0)
    report = await check_health(runtime.powers)
    for name in BRANCHES:
        part = next(c for c in report.components if c.name == name)
        assert (part.score, part.status) == (1.0, HealthStatus.HEALTHY)


async def test_a_crown_cancel_leaves_every_branch_healthy(runtime: Runtime) -> None:
    """The crown stops a running change: nobody failed, so no branch is judged for it."""
    await beating(runtime)
    req = request([("noop", {"sleep_s": 1.0}), ("noop", {})])
    await submit(runtime, req)
    driving = asyncio.create_task(drive(runtime))
    async with asyncio.timeout(10):
        while (await load(runtime, req.operation_id)).status != OperationStatus.EXECUTING:
            await asyncio.sleep(0.01)
    async with runtime.session() as session:
        await cancel_operation(session, operation_id=req.operation_id, by=CAROL)
        await lifecycle.commit(session)
    await driving
    ended = await load(runtime, req.operation_id)
    # The sleeping step was interrupted: the operation ends failed by the crown's hand, with
    # nothing before it to undo.
    assert ended.status is OperationStatus.FAILED
    assert ended.status_reason is not None and ended.status_reason.startswith("cancelled by")
    await stages.fold_all(runtime.powers)

    report = await check_health(runtime.powers)
    for name in BRANCHES:
        part = next(c for c in report.components if c.name == name)
        failing = [c.name for c in part.checks if c.status is not CheckStatus.PASS]
        assert (part.status, failing) == (HealthStatus.HEALTHY, []), name
    part = next(c for c in report.components if c.name == "executive")
    executive = {c.name: c for c in part.checks}
    assert executive["error_rate"].value == 0.0
    assert executive["compliance"].detail == "no operations finished in the window"


async def test_a_long_step_is_not_the_executives_decision_time(runtime: Runtime) -> None:
    """A step runs 2 s under a 1 s response time: its action's time, not the executive's.

    The executive's own share stays far under 1 s even on a loaded machine (0.19 s seen at
    the worst), while counting the step would put it past 2 s.
    """
    runtime.settings.health.thresholds.response_time_s = 1.0
    await submit(runtime, request([("noop", {"sleep_s": 2.0})]))
    await drive(runtime)
    await stages.fold_all(runtime.powers)
    checks = await branch_checks(runtime)
    decision = checks[("executive", "decision_s")]
    assert decision.status is CheckStatus.PASS, decision
    assert decision.value is not None and decision.value < 1.0
    assert "1 steps' run time taken out" in decision.detail
    # 2 s of noop's declared 3700 s: not slow either.
    slow = checks[("executive", "slow_steps")]
    assert (slow.status, slow.value) == (CheckStatus.PASS, 0.0)


def _report(passed: bool) -> HealthReport:
    status = CheckStatus.PASS if passed else CheckStatus.FAIL
    checks = [HealthCheck(name="c", component="drill", status=status)]
    return build_report(checks, checked_at=utcnow(), duration_s=0.0)


async def test_history_is_bounded_to_the_newest(runtime: Runtime) -> None:
    keep = 4
    stored = []
    for i in range(keep + 5):
        async with runtime.session() as session:
            stored.append(await store_report(session, _report(i % 2 == 0), keep=keep))
            await session.commit()

    async with runtime.session(read_only=True) as session:
        listed = await history(session, limit=100)
        newest = await latest(session)
        page = await history(session, limit=2, before_id=listed[1].id)

    assert [s.id for s in listed] == [r.id for r in reversed(stored[-keep:])]
    assert [(s.score, s.status) for s in listed] == [
        (r.score, r.status) for r in reversed(stored[-keep:])
    ]
    assert newest is not None and newest.id == stored[-1].id
    assert newest.model_dump() == stored[-1].model_dump()
    assert [s.id for s in page] == [listed[2].id, listed[3].id]
