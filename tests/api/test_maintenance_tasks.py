"""Routine tasks through HTTP, both databases: list, run now, pause and resume, /metrics.

Doors of "pausing, resuming and running a task are a person's, with a role for it": run,
pause and resume each refused to a viewer, a judge and the crown alone, with nothing stored
or changed; an unknown task is 404 on every verb; a pause needs its reason.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.fixtures.api import Api, drive
from tests.fixtures.tasks import task, with_tasks
from triadops.constitution.crown import audit
from triadops.domain.operations import utcnow
from triadops.ops.maintenance.scheduled import TaskScheduler
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow, MaintenanceTaskRow, OperationRow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_tasks(settings, task(), task("nightly", cron="0 3 * * *", timezone="Europe/Paris"))


async def count(rt: Runtime, what: object) -> int:
    async with rt.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


async def task_entries(rt: Runtime) -> int:
    async with rt.session(read_only=True) as session:
        where = LedgerRow.operation_id == "maintenance_task:drill"
        found = await session.scalar(select(func.count()).select_from(LedgerRow).where(where))
        return int(found or 0)


async def test_the_task_list_shows_schedule_state_and_next_run(api: Api) -> None:
    answer = await api.get("/maintenance/tasks")
    assert answer.status_code == 200, answer.text
    items = {t["name"]: t for t in answer.json()["items"]}
    assert list(items) == ["drill", "nightly"]
    assert items["nightly"]["schedule"] == "cron 0 3 * * * Europe/Paris"
    assert items["drill"]["state"] == "active"
    assert items["drill"]["last_run_at"] is None and items["drill"]["missed_total"] == 0
    assert items["drill"]["next_due"] is not None


async def test_run_submits_an_operation_in_the_callers_name_and_reads_its_result_back(
    api: Api, rt: Runtime
) -> None:
    answer = await api.post("/maintenance/tasks/drill/run", as_="eve")
    assert answer.status_code == 202, answer.text
    op_id = answer.json()["operation_id"]
    await drive(rt)
    shown = (await api.get(f"/operations/{op_id}")).json()
    assert shown["request"]["requested_by"] == "eve"
    assert shown["request"]["procedure"] == "drill"
    assert shown["status"] == "completed", shown["status_reason"]
    await TaskScheduler(rt.powers).run(now=utcnow())
    drill = (await api.get("/maintenance/tasks")).json()["items"][0]
    assert drill["last_operation_id"] == op_id and drill["last_result"] == "completed"


async def test_pause_and_resume_are_ledger_entries_and_a_paused_task_is_not_submitted(
    api: Api, rt: Runtime
) -> None:
    paused = await api.post("/maintenance/tasks/drill/pause", as_="bob", json={"reason": "disk"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused"
    scheduler = TaskScheduler(rt.powers)
    await scheduler.run(now=utcnow() + timedelta(hours=2))
    assert await count(rt, OperationRow) == 0
    resumed = await api.post("/maintenance/tasks/drill/resume", as_="alice")
    assert resumed.json()["state"] == "active", resumed.text
    async with rt.session(read_only=True) as session:
        entries = (
            await session.scalars(
                select(LedgerRow)
                .where(LedgerRow.operation_id == "maintenance_task:drill")
                .order_by(LedgerRow.seq)
            )
        ).all()
        assert [(e.event, e.actor) for e in entries] == [
            ("maintenance_task_paused", "bob"),
            ("maintenance_task_resumed", "alice"),
        ]
        assert entries[0].details["reason"] == "disk"
    async with rt.session(read_only=True) as session:
        assert (await audit.verify(session)).ok


async def test_audit_finds_a_task_row_edited_behind_the_ledger(api: Api, rt: Runtime) -> None:
    await api.post("/maintenance/tasks/drill/pause", as_="bob", json={"reason": "disk"})
    async with rt.session() as session:  # someone with the database unpauses it quietly
        row = await session.get(MaintenanceTaskRow, "drill")
        assert row is not None
        row.paused = False
        await session.commit()
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert not report.ok
    assert [str(d) for d in report.discrepancies] == [
        "maintenance task drill: paused is False; the ledger says True"
    ]


@pytest.mark.parametrize("who", ["viewer", "judge", "carol"])
@pytest.mark.parametrize("verb", ["run", "pause", "resume"])
async def test_only_executive_or_legislative_callers_may_run_pause_or_resume(
    api: Api, rt: Runtime, who: str, verb: str
) -> None:
    answer = await api.post(f"/maintenance/tasks/drill/{verb}", as_=who, json={"reason": "x"})
    assert answer.status_code == 403, answer.text
    assert await count(rt, OperationRow) == 0
    assert await task_entries(rt) == 0  # the refusal itself may be recorded, nothing else
    assert await count(rt, MaintenanceTaskRow) == 0


@pytest.mark.parametrize("verb", ["run", "pause", "resume"])
async def test_an_unknown_task_is_404_on_every_verb(api: Api, rt: Runtime, verb: str) -> None:
    answer = await api.post(f"/maintenance/tasks/nope/{verb}", as_="alice", json={"reason": "x"})
    assert answer.status_code == 404, answer.text
    assert "unknown maintenance task 'nope'" in answer.json()["detail"]
    assert await count(rt, OperationRow) == 0


async def test_a_pause_without_a_reason_is_refused_and_changes_nothing(
    api: Api, rt: Runtime
) -> None:
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}):
        answer = await api.post("/maintenance/tasks/drill/pause", as_="alice", json=body)
        assert answer.status_code == 422, answer.text
    again = await api.post("/maintenance/tasks/drill/resume", as_="alice")
    assert again.status_code == 409, again.text  # never paused: nothing to resume
    assert await task_entries(rt) == 0


async def test_metrics_count_misses_from_stored_totals_and_show_due_times(
    api: Api, rt: Runtime
) -> None:
    scheduler = TaskScheduler(rt.powers)
    now = utcnow()
    await scheduler.run(now=now)
    await scheduler.run(now=now + timedelta(hours=5))  # down for hours: misses counted
    text = (await api.get("/metrics")).text
    misses = [
        line for line in text.splitlines() if line.startswith("triad_maintenance_task_misses_total")
    ]
    assert any('task="drill"' in line and not line.endswith(" 0.0") for line in misses), misses
    assert 'triad_maintenance_task_next_due_timestamp_seconds{task="nightly"}' in text
    assert 'triad_maintenance_task_last_run_timestamp_seconds{task="drill"}' in text
