"""Submissions arriving together share commits; reads never wait for a writer."""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text

from tests.fixtures.api import Api, noop_request
from triadops.constitution.ledger import verify
from triadops.runtime import Runtime


async def test_concurrent_submissions_are_group_committed(api: Api, rt: Runtime) -> None:
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(rt.engine.sync_engine, "commit", count)
    try:
        created = await asyncio.gather(*(api.submit(noop_request()) for _ in range(20)))
    finally:
        event.remove(rt.engine.sync_engine, "commit", count)
    assert {c["status"] for c in created} == {"scheduled"}
    assert len({c["operation_id"] for c in created}) == 20
    # Each request's own reads commit nothing; the writes shared fewer commits than requests.
    assert commits < 20, commits
    async with rt.session() as session:
        assert (await verify(session)).ok


async def test_a_bad_submission_in_a_group_fails_alone(api: Api) -> None:
    good = [api.post("/operations", as_="alice", json=noop_request()) for _ in range(5)]
    clash = noop_request(operation_id="op-clash")
    await api.submit(clash)
    again = api.post("/operations", as_="alice", json=clash)
    *oks, conflict = await asyncio.gather(*good, again)
    assert [r.status_code for r in oks] == [201] * 5
    assert conflict.status_code == 409
    assert "already exists" in conflict.json()["detail"]


async def test_reads_do_not_wait_for_an_open_write(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    async with rt.session() as writer:
        # Hold the write lock (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL).
        await writer.execute(text("UPDATE crown_state SET freeze_reason = 'held' WHERE id = 1"))
        listed = await asyncio.wait_for(api.get("/operations"), timeout=5)
        health = await asyncio.wait_for(api.client.get("/health"), timeout=5)
        await writer.rollback()
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    assert health.json()["database"] == "ok"


async def test_a_duplicate_in_a_group_fails_alone(api: Api, rt: Runtime) -> None:
    """Three submissions share an id, three do not; all six arrive in one group."""
    bodies = [noop_request(operation_id="op-twin") for _ in range(3)]
    bodies += [noop_request(operation_id=f"op-other-{i}") for i in range(3)]
    responses = await asyncio.gather(
        *(api.post("/operations", as_="alice", json=b) for b in bodies)
    )
    codes = [r.status_code for r in responses]
    assert sorted(codes[:3]) == [201, 409, 409], [r.text for r in responses]
    assert codes[3:] == [201, 201, 201], [r.text for r in responses[3:]]
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["field"] == "operation_id"
        assert "'op-twin' already exists" in refused.json()["detail"]
    listed = (await api.get("/operations")).json()["items"]
    assert sorted(i["operation_id"] for i in listed) == [
        "op-other-0",
        "op-other-1",
        "op-other-2",
        "op-twin",
    ]
    async with rt.session(read_only=True) as session:
        report = await verify(session)
    assert report.ok, report
