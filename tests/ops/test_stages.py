"""Stage totals folded from the ledger: each branch's stages, durations and failures."""

from __future__ import annotations

import asyncio

from tests.fixtures.api import drive
from tests.fixtures.pipeline import request, submit
from triadops.ops import stages
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
    # Two reviews (submitted → reviewing → approved: two legislative stages each).
    assert found[("legislative", "ok")].count == 4
    assert found[("executive", "ok")].count >= 1
    assert found[("executive", "error")].count == 1  # executing → failed
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
    assert found[("legislative", "ok")].count == 6


def test_links_without_a_stage_time_are_not_counted() -> None:
    assert stages.classify("transition", "reviewing", "approved", {}) is None
    assert stages.classify("transition", "approved", "scheduled", {"stage_s": 1}) is None
    assert stages.classify("transition", "awaiting_approval", "approved", {"stage_s": 1}) is None
    assert stages.classify("transition", "validating", "failed", {"stage_s": 2}) == (
        "judicial",
        "error",
        2.0,
    )
    assert stages.classify("acknowledged", None, None, {"stage_s": 3}) == ("crown", "ok", 3.0)
