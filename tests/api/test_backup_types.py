"""The backup endpoints for configurations, logs and system state; /metrics per type.

Both databases: each type submitted through ``POST /backups/{type}``, recovery-tested, listed
by type; ``/metrics`` exports each type's last backup and recovery test; bad types and a
command without its name are 4xx and change nothing; a viewer may not run any.
"""

from __future__ import annotations

from tests.fixtures.api import Api, drive
from triadops.runtime import Runtime
from triadops.settings.tasks import DEFAULT_TASKS

TYPES = ("configurations", "logs", "system_state")


async def test_each_type_is_backed_up_tested_and_exported_in_metrics(api: Api, rt: Runtime) -> None:
    (rt.settings.log_dir).mkdir(parents=True, exist_ok=True)
    (rt.settings.log_dir / "triad.log").write_text("started\n")
    made: dict[str, dict[str, object]] = {}
    for kind in TYPES:
        submitted = await api.post(f"/backups/{kind}", as_="alice")
        assert submitted.status_code == 202, submitted.text
        await drive(rt)
        op = (await api.get(f"/operations/{submitted.json()['operation_id']}")).json()
        assert op["status"] == "completed", op["status_reason"]
        assert op["request"]["procedure"] == f"backup_{kind}"
        (listed,) = (await api.get("/backups", params={"type": kind})).json()
        assert listed["type"] == kind and listed["operation_id"] == op["operation_id"]
        made[kind] = listed
    text = (await api.client.get("/metrics")).text
    for kind in TYPES:
        size = made[kind]["size_bytes"]
        assert f'triad_last_success_size_bytes{{task="backup_{kind}"}} {size}' in text
        assert f'task="recovery_test_{kind}"' not in text
    for kind in TYPES:
        tested = await api.post(f"/backups/{made[kind]['id']}/test-restore", as_="bob")
        assert tested.status_code == 202
        await drive(rt)
        shown = (await api.get(f"/backups/{made[kind]['id']}")).json()
        assert shown["restore_test"]["operation_id"] == tested.json()["operation_id"]
    text = (await api.client.get("/metrics")).text
    for kind in TYPES:
        assert f'triad_last_success_timestamp_seconds{{task="recovery_test_{kind}"}}' in text
    assert len((await api.get("/backups")).json()) == 3


async def test_bad_types_and_roles_are_refused_changing_nothing(api: Api, rt: Runtime) -> None:
    for path in ("/backups/logs", "/backups/system_state", "/backups/command"):
        assert (await api.post(path, as_="viewer")).status_code == 403
        assert (await api.client.post(path)).status_code == 401
    unknown = await api.post("/backups/tapes", as_="alice")
    assert unknown.status_code == 422 and "kind" in unknown.text
    nameless = await api.post("/backups/command", as_="alice")
    assert nameless.status_code == 422 and "needs --name" in nameless.text
    undeclared = await api.post("/backups/command", as_="alice", json={"name": "pgbackrest"})
    assert undeclared.status_code == 404 and "no backup command 'pgbackrest'" in undeclared.text
    extra = await api.post("/backups/logs", as_="alice", json={"paths": ["/etc"]})
    assert extra.status_code == 422
    assert (await api.get("/backups", params={"type": "tapes"})).status_code == 422
    prune = await api.post("/backups/prune", as_="alice", json={"type": "tapes"})
    assert prune.status_code == 422
    assert (await api.get("/operations")).json()["items"] == []


def test_the_seed_tasks_take_each_type_daily_and_retention_is_per_type(rt: Runtime) -> None:
    tasks = {t.name: t for t in DEFAULT_TASKS}
    expected = {
        "backup_database": ("backup_database", "0 * * * *"),
        "backup_configurations": ("backup_configurations", "10 0 * * *"),
        "backup_logs": ("backup_logs", "15 0 * * *"),
        "backup_system_state": ("backup_system_state", "20 0 * * *"),
        "recovery_test": ("recovery_test_database", "30 0 * * *"),
        "recovery_test_configurations": ("recovery_test_configurations", "40 0 * * *"),
        "recovery_test_logs": ("recovery_test_logs", "45 0 * * *"),
        "recovery_test_system_state": ("recovery_test_system_state", "50 0 * * *"),
        "backup_prune": ("backup_prune", "15 1 * * *"),
    }
    for name, (procedure, cron) in expected.items():
        assert (tasks[name].procedure, tasks[name].cron) == (procedure, cron)
    in_force = {t.name for t in rt.settings.task_table()}
    assert set(expected) <= in_force
    for procedure in {p for p, _ in expected.values()}:
        assert rt.procedures.get(procedure).name == procedure  # each loads
    keep = rt.settings.backups
    assert [keep.keep_days_of(t, "triad") for t in ("database", *TYPES)] == [30, 90, 7, 14]
