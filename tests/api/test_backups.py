"""The backup endpoints: runs are operations in the caller's name; reads for any role."""

from __future__ import annotations

from tests.fixtures.api import Api, drive
from triadops.runtime import Runtime


async def test_a_backup_and_its_recovery_test_through_the_api(api: Api, rt: Runtime) -> None:
    assert (await api.get("/backups")).json() == []
    submitted = await api.post("/backups/database", as_="alice")
    assert submitted.status_code == 202, submitted.text
    op_id = submitted.json()["operation_id"]
    await drive(rt)
    op = (await api.get(f"/operations/{op_id}")).json()
    assert op["status"] == "completed", op["status_reason"]
    assert op["request"]["requested_by"] == "alice"
    (listed,) = (await api.get("/backups")).json()
    assert listed["operation_id"] == op_id and listed["restore_test"] is None

    tested = await api.post(f"/backups/{listed['id']}/test-restore", as_="bob")
    assert tested.status_code == 202, tested.text
    await drive(rt)
    shown = await api.get(f"/backups/{listed['id']}")
    assert shown.status_code == 200
    assert shown.json()["restore_test"]["operation_id"] == tested.json()["operation_id"]
    assert shown.json()["restore_test"]["checksum"] == listed["checksum"]

    verified = await api.post(f"/backups/{listed['id']}/verify", as_="eve")
    assert verified.status_code == 202
    await drive(rt)
    done = (await api.get(f"/operations/{verified.json()['operation_id']}")).json()
    assert done["status"] == "completed" and done["steps"][0]["output"]["files_checked"] == 1


async def test_who_may_run_and_what_is_refused(api: Api, rt: Runtime) -> None:
    for path in (
        "/backups/database",
        "/backups/x/verify",
        "/backups/x/test-restore",
        "/backups/prune",
    ):
        refused = await api.post(path, as_="viewer")
        assert refused.status_code == 403, (path, refused.text)
        assert (await api.client.post(path)).status_code == 401
    unknown = await api.post("/backups/database", as_="alice", json={"target": "nowhere"})
    assert unknown.status_code == 422 and "nowhere" in unknown.text
    extra = await api.post("/backups/database", as_="alice", json={"target": "triad", "x": 1})
    assert extra.status_code == 422
    assert (await api.get("/backups/no-such")).status_code == 404
    assert (await api.get("/backups/bad%20id")).status_code == 422
    missing = await api.post("/backups/no-such/verify", as_="alice")
    assert missing.status_code == 404 and "no backup 'no-such'" in missing.text
    assert (await api.get("/operations")).json()["items"] == []


async def test_metrics_show_the_last_backup_and_recovery_test(api: Api, rt: Runtime) -> None:
    assert "triad_last_success_timestamp_seconds" not in (await api.client.get("/metrics")).text
    await api.post("/backups/database", as_="alice")
    await drive(rt)
    (made,) = (await api.get("/backups")).json()
    text = (await api.client.get("/metrics")).text
    assert 'triad_last_success_timestamp_seconds{task="backup_database"}' in text
    assert f'triad_last_success_size_bytes{{task="backup_database"}} {made["size_bytes"]}' in text
    assert "recovery_test_database" not in text
    await api.post(f"/backups/{made['id']}/test-restore", as_="alice")
    await drive(rt)
    text = (await api.client.get("/metrics")).text
    assert 'triad_last_success_timestamp_seconds{task="recovery_test_database"}' in text
