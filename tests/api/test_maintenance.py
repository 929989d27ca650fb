"""``POST /admin/cache/optimize`` and ``/performance/baseline`` through HTTP, both databases.

Doors of "every change is an operation in the caller's name": cache optimisation and a new
baseline each answer 202 with an operation that names the caller; a viewer, a judge and the
crown alone are refused and nothing is stored; the baseline is only ever written by the
operation's step, and a rollback puts the old one back.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.actions.conftest import action_context
from tests.checks.test_builtin import context
from tests.fixtures.api import Api, drive
from triadops.actions.performance import BaselineParams, PerformanceBaselineAction
from triadops.checks.performance import PerformanceWithinBaseline
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.access import Access, record_accesses
from triadops.storage.baselines import db_latency_name, read_baselines
from triadops.storage.tables import BaselineRow, OperationRow


async def operations(rt: Runtime) -> int:
    async with rt.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(OperationRow)) or 0)


@pytest.mark.parametrize("who", ["alice", "eve", "bob"])
async def test_cache_optimize_submits_cache_cleanup_as_the_caller(
    api: Api, rt: Runtime, who: str
) -> None:
    answer = await api.post("/admin/cache/optimize", as_=who)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["location"] == f"/operations/{body['operation_id']}"
    await drive(rt)
    shown = (await api.get(body["location"])).json()
    assert shown["request"]["procedure"] == "cache_cleanup"
    assert shown["request"]["requested_by"] == who
    expected = "legislative" if who == "bob" else "executive"
    assert shown["request"]["constitutional_authority"] == expected
    assert shown["status"] == "completed", shown["status_reason"]
    assert [s["action"] for s in shown["steps"]] == ["cache.cleanup"]


@pytest.mark.parametrize("who", ["viewer", "judge", "carol"])
@pytest.mark.parametrize("path", ["/admin/cache/optimize", "/performance/baseline"])
async def test_only_executive_or_legislative_callers_may_submit(
    api: Api, rt: Runtime, who: str, path: str
) -> None:
    answer = await api.post(path, as_=who)
    assert answer.status_code == 403, answer.text
    assert "executive or legislative" in answer.json()["detail"]
    assert await operations(rt) == 0


async def test_no_token_no_operation(api: Api, rt: Runtime) -> None:
    assert (await api.client.post("/admin/cache/optimize")).status_code == 401
    assert (await api.client.post("/performance/baseline")).status_code == 401
    assert await operations(rt) == 0


async def test_baseline_is_missing_until_established_then_measured(api: Api, rt: Runtime) -> None:
    missing = await api.get("/performance/baseline")
    assert missing.status_code == 404
    assert "POST /performance/baseline" in missing.json()["detail"]
    await record_accesses(
        rt.engine,
        [
            Access(utcnow(), "alice", "GET", "/x", "/x", 200, latency_s=n / 1000, request_id=str(n))
            for n in range(1, 101)
        ],
    )
    before = utcnow()

    answer = await api.post("/performance/baseline", as_="eve")
    assert answer.status_code == 202, answer.text
    await drive(rt)
    shown = (await api.get(answer.json()["location"])).json()
    assert shown["status"] == "completed", shown["status_reason"]
    assert shown["request"]["requested_by"] == "eve"

    found = await api.get("/performance/baseline")
    assert found.status_code == 200, found.text
    baseline = found.json()
    assert baseline["measured_at"] >= before.isoformat()
    db = baseline["database"]["triad"]
    assert db["samples"] == 50
    assert 0 < db["p50_s"] <= db["p95_s"] <= db["p99_s"]
    # 100 answers of 1..100 ms (plus this test's own requests, none recorded yet).
    assert baseline["api"] == {"p50_s": 0.05, "p95_s": 0.095, "p99_s": 0.099, "samples": 100}


async def test_the_check_compares_against_the_established_baseline_and_rollback_restores(
    rt: Runtime,
) -> None:
    ctx = action_context(rt.settings, rt.databases)
    name = db_latency_name("triad")
    async with rt.session() as session:
        session.add(BaselineRow(name=name, value=7.0, unit="s", measured_at=utcnow()))
        await session.commit()
    output = await PerformanceBaselineAction().run(ctx, BaselineParams(samples=7))
    stored = await read_baselines(rt.engine, names=[name])
    assert stored[name][0] < 1.0  # measured, not the 7 s that was there
    previous = output["previous"]
    assert isinstance(previous, dict) and previous[name] == [7.0, "s", previous[name][2]]

    measured = await PerformanceWithinBaseline().measure(context(rt))
    assert measured["baseline_s"] == {"triad": stored[name][0]}

    undone = await PerformanceBaselineAction().rollback(ctx, BaselineParams(samples=7), output)
    assert undone["undone"] is True
    assert (await read_baselines(rt.engine, names=[name]))[name][0] == 7.0
