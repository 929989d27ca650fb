"""Faults at the edges fail alone: a hanging or refusing target, an unmeasurable check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from tests.fixtures.api import Api, drive, high_risk_request, noop_request
from tests.fixtures.fakes import HangingPreviewAction, ScriptedCheck
from tests.fixtures.pipeline import load
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A short dry-run budget and a target that refuses connections."""
    return settings.model_copy(
        update={
            "preview_timeout_s": 1.0,
            "database_targets": {"dead": "postgresql+asyncpg://postgres@127.0.0.1:1/nothing"},
        }
    )


async def test_a_hanging_dry_run_holds_no_lock_and_fails_alone(api: Api, rt: Runtime) -> None:
    hanging = HangingPreviewAction()
    rt.actions.register(hanging)
    slow = asyncio.create_task(
        api.post(
            "/operations",
            as_="alice",
            json=noop_request(steps=[{"action": "test.hanging_preview"}]),
        )
    )
    await hanging.started.wait()
    # While the dry run hangs, the crown and other clients still write.
    frozen = await api.post("/crown/freeze", as_="carol", json={"reason": "drill"})
    assert frozen.status_code == 200, frozen.text
    assert (await api.post("/crown/unfreeze", as_="carol")).status_code == 200
    other = await api.submit(noop_request())
    assert not slow.done()

    refused = await slow
    assert refused.status_code == 422
    assert refused.json()["field"] == "steps[0]"
    assert "dry run took longer than 1 s" in refused.json()["detail"]
    listed = (await api.get("/operations")).json()["items"]
    assert [i["operation_id"] for i in listed] == [other["operation_id"]]


async def test_a_refusing_target_fails_its_submission_alone(api: Api) -> None:
    dead = noop_request(steps=[{"action": "database.vacuum_analyze", "params": {"target": "dead"}}])
    responses = await asyncio.gather(
        api.post("/operations", as_="alice", json=dead),
        *(api.post("/operations", as_="alice", json=noop_request()) for _ in range(3)),
    )
    assert responses[0].status_code == 422, responses[0].text
    assert responses[0].json()["field"] == "steps[0]"
    assert "dry run failed" in responses[0].json()["detail"]
    assert [r.status_code for r in responses[1:]] == [201, 201, 201]


async def test_a_criterion_unmeasured_before_fails_the_operation(api: Api, rt: Runtime) -> None:
    check = ScriptedCheck([RuntimeError("probe down"), {"rows": 10}])
    rt.checks.register(check)
    op = await api.submit(noop_request(validation_criteria=["test.scripted"]))
    await drive(rt)
    done = await load(rt, op["operation_id"])
    assert check.calls == 1  # never compared "after" with itself
    assert done.status is OperationStatus.ROLLED_BACK
    assert done.validation_result is not None
    finding = next(f for f in done.validation_result.findings if f.name == "test.scripted")
    assert not finding.passed
    assert "could not be measured before the operation ran" in finding.detail
    assert "probe down" in finding.detail


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_full_disk_is_503_with_the_reason_and_health_says_so(api: Api, rt: Runtime) -> None:
    assert (await api.client.get("/health")).json()["status"] == "ok"

    def no_room(dbapi_connection: Any, _record: Any) -> None:
        # The database may not grow past its current size: SQLite's "disk is full".
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(rt.engine.sync_engine, "connect", no_room)
    await rt.engine.dispose()  # every connection from now on is capped
    try:
        big = noop_request(description="x" * 2000, affected_systems=["s" * 200] * 100)
        refused = await api.post("/operations", as_="alice", json=big)
        assert refused.status_code == 503, refused.text
        problem = refused.json()
        assert problem["type"] == "urn:triadops:problem:storage-full"
        assert "database or disk is full" in problem["detail"]
        assert problem["request_id"]

        health = await api.client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded"
        assert "storage is full" in health.json()["reason"]
    finally:
        event.remove(rt.engine.sync_engine, "connect", no_room)
        # The committer may still be returning the failed batch's connection: disposing
        # under it would leave that connection unclosed.
        for _ in range(100):
            if rt.engine.sync_engine.pool.checkedout() == 0:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.02)
        await rt.engine.dispose()


async def test_an_amendment_whose_dry_run_hangs_holds_no_lock(api: Api, rt: Runtime) -> None:
    hanging = HangingPreviewAction()
    rt.actions.register(hanging)
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}/steps"
    slow = asyncio.create_task(
        api.put(path, as_="alice", json={"steps": [{"action": "test.hanging_preview"}]})
    )
    await hanging.started.wait()
    frozen = await api.post("/crown/freeze", as_="carol", json={"reason": "drill"})
    assert frozen.status_code == 200, frozen.text
    assert not slow.done()
    refused = await slow
    assert refused.status_code == 422
    assert "dry run took longer than 1 s" in refused.json()["detail"]
    shown = (await api.get(f"/operations/{op['operation_id']}")).json()
    assert shown["plan_hash"] == op["plan_hash"]
