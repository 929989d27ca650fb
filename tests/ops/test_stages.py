"""Stage totals folded from the ledger: each branch's stages, durations and failures."""

from __future__ import annotations

import asyncio

from tests.fixtures.api import drive
from tests.fixtures.pipeline import request, submit
from triadops.domain.health import StageSample
from triadops.ops import stages
from triadops.ops.health.branches import stage_figures
from triadops.runtime import Runtime
from triadops.storage.stages import BUCKETS, read_totals


def by_key(totals: list[stages.StageTotal]) -> dict[tuple[str, str], stages.StageTotal]:
    return {(t.branch, t.outcome): t for t in totals}


async def totals(rt: Runtime) -> dict[tuple[str, str], stages.StageTotal]:
    async with rt.session(read_only=True) as session:
        return by_key(await read_totals(session))


async def test_each_branch_counts_its_stages_and_failures(runtime: Runtime) -> None:
    await submit(runtime, request())
    await submit(runtime, request(steps=[("noop", {"fail": True})]))
    await drive(runtime)
    assert await stages.fold_all(runtime.powers) > 0
    found = await totals(runtime)
    # Two reviews (reviewing → approved), each after a wait in the queue (submitted).
    assert found[("legislative", "ok")].count == 2
    assert found[("legislative", "wait")].count == 2
    assert found[("executive", "ok")].count >= 1
    assert found[("executive", "error")].count == 1  # executing → failed
    assert found[("executive", "step")].count == 2  # each step's own run time
    assert found[("judicial", "ok")].count == 1  # validating → completed
    for total in found.values():
        # Cumulative histogram: never decreasing, and no bucket above the count.
        assert total.buckets == sorted(total.buckets)
        assert total.buckets[-1] <= total.count
        assert total.sum_s >= 0
    assert len(found[("legislative", "ok")].buckets) == len(BUCKETS)


async def test_a_second_fold_adds_only_new_links(runtime: Runtime) -> None:
    await submit(runtime, request())
    await drive(runtime)
    await stages.fold_all(runtime.powers)
    before = await totals(runtime)
    assert await stages.fold_all(runtime.powers) == 0
    assert await totals(runtime) == before
    await submit(runtime, request())
    await drive(runtime)
    await stages.fold_all(runtime.powers)
    after = await totals(runtime)
    assert after[("judicial", "ok")].count == before[("judicial", "ok")].count + 1


async def test_concurrent_folds_never_count_a_link_twice(runtime: Runtime) -> None:
    for _ in range(3):
        await submit(runtime, request())
    await drive(runtime)
    await asyncio.gather(*(stages.fold_all(runtime.powers, batch=4) for _ in range(4)))
    found = await totals(runtime)
    assert found[("judicial", "ok")].count == 3
    assert found[("legislative", "ok")].count == 3


def test_links_without_a_stage_time_are_not_counted() -> None:
    assert stages.classify("transition", "reviewing", "approved", {}) is None
    assert stages.classify("transition", "approved", "scheduled", {"stage_s": 1}) is None
    assert stages.classify("transition", "awaiting_approval", "approved", {"stage_s": 1}) is None
    assert stages.classify(
        "transition", "validating", "failed", {"stage_s": 2}, actor="judicial:rules"
    ) == ("judicial", "error", 2.0)
    assert stages.classify("acknowledged", None, None, {"stage_s": 3}) == ("crown", "ok", 3.0)


def test_a_cancel_stops_a_stage_and_fails_nobody() -> None:
    """The crown (or the requester) ends a running change: a person's decision, no error."""
    for who in ("carol", "alice"):
        assert stages.classify("transition", "executing", "failed", {"stage_s": 4}, actor=who) == (
            "executive",
            "stopped",
            4.0,
        )
    # The executive failing its own step is its error.
    assert stages.classify(
        "transition", "executing", "failed", {"stage_s": 4}, actor="executive:w1"
    ) == ("executive", "error", 4.0)


def test_a_step_is_slow_only_against_its_own_actions_timeout() -> None:
    timeouts = {"vacuum": 300.0, "ping": 10.0}.get
    step = {"action": "vacuum", "duration_s": 30.0}
    assert stages.classify("step_succeeded", None, None, step, timeout_of=timeouts) == (
        "executive",
        "step",
        30.0,
    )
    quick = {"action": "ping", "duration_s": 9.0}
    assert stages.classify("step_succeeded", None, None, quick, timeout_of=timeouts) == (
        "executive",
        "slow_step",
        9.0,
    )
    # An action no longer registered has no timeout to be slow against.
    gone = {"action": "retired", "duration_s": 1e6}
    assert stages.classify("step_failed", None, None, gone, timeout_of=timeouts)[1] == "step"


def test_the_executives_decision_time_leaves_its_steps_out() -> None:
    """A 30 s maintenance step inside a 30.2 s executing stage: 0.2 s was the executive's."""
    links = [
        (1, "step_succeeded", None, None, {"action": "vacuum", "duration_s": 30.0}, "executive:w"),
        (2, "transition", "executing", "validating", {"stage_s": 30.2}, "executive:w"),
    ]
    totals = stages.totals_of(links, timeout_of={"vacuum": 300.0}.get)
    samples = [
        StageSample(branch=t.branch, outcome=t.outcome, count=t.count, sum_s=t.sum_s)
        for t in totals
    ]
    executive = stage_figures(samples, None)["executive"]
    assert (executive.count, executive.steps, executive.slow_steps) == (1, 1, 0)
    assert round(executive.decision_s, 6) == 0.2
