"""A step's progress through the API: a backup's, verify's and recovery test's final figures."""

from __future__ import annotations

from tests.fixtures.api import Api, drive
from triadops.runtime import Runtime


async def final_progress(api: Api, operation_id: str) -> dict[str, object]:
    op = (await api.get(f"/operations/{operation_id}")).json()
    assert op["status"] == "completed", op["status_reason"]
    (step,) = op["steps"]
    progress: dict[str, object] = step["progress"]
    return progress


async def test_backup_verify_and_recovery_test_steps_show_bytes_done_of_total(
    api: Api, rt: Runtime
) -> None:
    made = await api.post("/backups/database", as_="alice")
    await drive(rt)
    progress = await final_progress(api, made.json()["operation_id"])
    (backup,) = (await api.get("/backups")).json()
    size = backup["size_bytes"]
    assert progress["what"] == "hash" and progress["finished"] is True
    assert progress["done_bytes"] == progress["total_bytes"] == size
    assert isinstance(progress["rate_bytes_per_s"], float) and progress["rate_bytes_per_s"] > 0

    verified = await api.post(f"/backups/{backup['id']}/verify", as_="eve")
    await drive(rt)
    progress = await final_progress(api, verified.json()["operation_id"])
    assert progress["what"] == "verify"
    assert progress["done_bytes"] == progress["total_bytes"] == size

    tested = await api.post(f"/backups/{backup['id']}/test-restore", as_="bob")
    await drive(rt)
    progress = await final_progress(api, tested.json()["operation_id"])
    # SQLite: the copy restored, hashed as it is written; PostgreSQL: the dump hashed.
    assert progress["what"] in {"restore", "verify"}
    assert progress["done_bytes"] == progress["total_bytes"] == size
