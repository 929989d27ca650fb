"""Backups and recovery tests as routine tasks, and the alerts their failures raise.

Both databases unless said: the seed's ``backup_database`` and ``recovery_test`` tasks run
on an injected clock through the scheduler and the pipeline; ``latest`` is the newest
backup not yet tested; a failed backup or recovery test fires one alert per type, which
the next success resolves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.actions.test_backup import backup, context
from tests.fixtures.api import drive
from tests.fixtures.pipeline import approve, load, submit
from triadops.actions.backup_alerts import BACKUP_FAILED, RECOVERY_TEST_FAILED
from triadops.actions.backup_files import backup_folder
from triadops.domain.clock import FakeClock, using
from triadops.domain.enums import Authority, OperationStatus
from triadops.domain.errors import ActionFailed
from triadops.domain.operations import OperationRequest
from triadops.ops.backup.requests import backup_request
from triadops.ops.maintenance.scheduled import TaskScheduler
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.backups import find_backup, list_backups
from triadops.storage.tables import AlertRow, LedgerRow

START = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)  # a Monday, outside every default window
EXEC = Authority.EXECUTIVE


@pytest.fixture
def clock() -> AsyncIterator[FakeClock]:  # type: ignore[misc]
    with using(FakeClock(START)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


def recovery_request(backup_id: str | None = None) -> OperationRequest:
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": Authority.EXECUTIVE,
            "requested_by": "alice",
            "description": "recovery test",
            "procedure": "recovery_test_database",
            "procedure_params": {} if backup_id is None else {"backup_id": backup_id},
        }
    )


async def run(rt: Runtime, req: OperationRequest) -> tuple[OperationStatus, str, dict[str, object]]:
    submitted = await submit(rt, req)
    if submitted.status == OperationStatus.AWAITING_APPROVAL:  # risk raised by recent failures
        await approve(rt, req.operation_id)
    await drive(rt)
    op = await load(rt, req.operation_id)
    return op.status, op.status_reason or "", dict(op.steps[0].output)


async def alerts(rt: Runtime, name: str) -> list[tuple[str, dict[str, str]]]:
    async with rt.session(read_only=True) as session:
        rows = await session.scalars(
            select(AlertRow).where(AlertRow.alertname == name).order_by(AlertRow.id)
        )
        return [(r.state, dict(r.annotations)) for r in rows]


async def test_the_seed_tasks_back_up_hourly_and_recovery_test_daily(
    settings: Settings, clock: FakeClock
) -> None:
    # The fake clock moves days while the backups' folders get real mtimes: with the default
    # grace, one backup's `prepare` would take another's folder, stored a moment ago, for a
    # leftover days old (real time never ages a folder in the seconds between a stored-ids
    # read and the removal). Leftovers are tests/actions/test_backup_faults.py's subject.
    settings.backups.leftover_grace_s = 30 * 86_400
    rt = await Runtime.open(settings, migrate=False)
    try:
        scheduler = TaskScheduler(rt.powers)
        await scheduler.run(now=clock.now())
        clock.advance(31 * 60)  # 10:01: the hourly backup is due
        due = await scheduler.run(now=clock.now())
        assert due.submitted == ["mt-backup_database-20261207T1000Z"]
        await drive(rt)
        ended = await scheduler.run(now=clock.now())
        assert [(e.task, e.result) for e in ended.ended] == [("backup_database", "completed")]

        clock.advance(14 * 3600 + 30 * 60)  # 00:31 next day: a backup, then the recovery test
        due = await scheduler.run(now=clock.now())
        assert sorted(due.submitted) == [
            "mt-backup_configurations-20261208T0010Z",  # the daily types, before their tests
            "mt-backup_database-20261207T1100Z",  # the hours missed, caught up once
            "mt-backup_logs-20261208T0015Z",
            "mt-backup_system_state-20261208T0020Z",
            "mt-recovery_test-20261208T0030Z",
        ]
        await drive(rt)
        ended = await scheduler.run(now=clock.now())
        assert {(e.task, e.result) for e in ended.ended} == {
            ("backup_database", "completed"),
            ("backup_configurations", "completed"),
            ("backup_logs", "completed"),
            ("backup_system_state", "completed"),
            ("recovery_test", "completed"),
        }
        tested = await load(rt, "mt-recovery_test-20261208T0030Z")
        output = tested.steps[0].output
        assert output["requested"] == "latest" and output["passed"] is True
        async with rt.session(read_only=True) as session:
            stored = await list_backups(session, type_="database")
            row = await find_backup(session, str(output["backup_id"]))
            facts = (
                await session.scalars(
                    select(LedgerRow).where(LedgerRow.event == "backup_restore_tested")
                )
            ).all()
        assert len(stored) == 2
        assert row is not None and row.tested_checksum == row.checksum
        assert [f.details["backup"] for f in facts] == [row.id]
    finally:
        await rt.close()


async def test_latest_is_the_newest_backup_not_yet_tested(runtime: Runtime) -> None:
    for _ in range(2):
        await backup_through_the_pipeline(runtime)
    async with runtime.session(read_only=True) as session:
        newest, older = [b.id for b in await list_backups(session)]

    picked = []
    for _ in range(3):
        status, reason, output = await run(runtime, recovery_request())
        assert status == OperationStatus.COMPLETED, reason
        assert output["requested"] == "latest" and output["alerts"] == "resolved"
        picked.append(output["backup_id"])
    assert picked == [newest, older, newest]  # all tested: the newest again
    assert await alerts(runtime, RECOVERY_TEST_FAILED) == []  # nothing fired, nothing stored

    status, _, output = await run(runtime, recovery_request(older))
    assert status == OperationStatus.COMPLETED and output["backup_id"] == older


async def test_a_failed_recovery_test_fires_its_alert_and_the_next_pass_resolves_it(
    runtime: Runtime,
) -> None:
    status, reason, _ = await run(runtime, recovery_request())
    assert status == OperationStatus.FAILED
    assert "no backup to recovery-test: none is stored yet" in reason
    await backup_through_the_pipeline(runtime)
    async with runtime.session(read_only=True) as session:
        (flipped,) = await list_backups(session)
    name = flipped.manifest["files"][0]["name"]
    path = backup_folder(runtime.settings.backup_folder, flipped.id) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    status, reason, _ = await run(runtime, recovery_request())
    assert status == OperationStatus.FAILED and name in reason
    ((state, said),) = await alerts(runtime, RECOVERY_TEST_FAILED)  # one alert, repeated
    assert state == "firing" and said["backup_id"] == flipped.id
    assert said["summary"].startswith(f"recovery test of {flipped.id} failed: backup ")
    assert name in said["summary"]

    await backup_through_the_pipeline(runtime)  # the newest not yet tested: this one
    status, reason, output = await run(runtime, recovery_request())
    assert status == OperationStatus.COMPLETED, reason
    assert output["backup_id"] != flipped.id
    assert [s for s, _ in await alerts(runtime, RECOVERY_TEST_FAILED)] == ["resolved"]


async def backup_through_the_pipeline(rt: Runtime) -> str:
    req = backup_request(target="triad", requested_by="alice", authority=Authority.EXECUTIVE)
    status, reason, _ = await run(rt, req)
    assert status == OperationStatus.COMPLETED, reason
    return req.operation_id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_failed_manual_backup_fires_its_alert_and_the_next_backup_resolves_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    bad = replace(context(runtime, folder=blocker / "backups"), alerts=runtime.raise_alerts)
    with pytest.raises(ActionFailed, match="Not a directory"):
        await backup(bad)
    ((state, said),) = await alerts(runtime, BACKUP_FAILED)
    assert state == "firing" and said["source"] == "triad"
    assert said["summary"].startswith("backup of triad failed: backup folder ")

    made = await backup(replace(context(runtime), alerts=runtime.raise_alerts))
    assert made["alerts"] == "resolved"
    assert [s for s, _ in await alerts(runtime, BACKUP_FAILED)] == ["resolved"]


async def test_the_seed_prune_keeps_hourly_backups_from_filling_the_disk(
    settings: Settings, clock: FakeClock
) -> None:
    rt = await Runtime.open(settings, migrate=False)
    try:
        for _ in range(3):  # three backups, the newest recovery-tested
            await run(rt, backup_request(target="triad", requested_by="alice", authority=EXEC))
        await run(rt, recovery_request())
        async with rt.session(read_only=True) as session:
            made = await list_backups(session)
        assert len(made) == 3
        scheduler = TaskScheduler(rt.powers)
        await scheduler.run(now=clock.now())
        # 31 days on, at 01:16: every backup is past the 30 days' retention.
        clock.advance(31 * 86400 + 15 * 3600 + 46 * 60)
        due = await scheduler.run(now=clock.now())
        pruned = [i for i in due.submitted if i.startswith("mt-backup_prune-")]
        assert len(pruned) == 1  # 31 missed days caught up once (named by the first missed)
        await drive(rt)
        op = await load(rt, pruned[0])
        assert op.status is OperationStatus.COMPLETED, op.status_reason
        async with rt.session(read_only=True) as session:
            left = await list_backups(session, type_="database")
        # Of the three old ones only the newest, the one recovery-tested, stays (beside the
        # hourly backup the same pass caught up); the two older ones went, folders and all.
        kept = {b.id for b in made} & {b.id for b in left}
        assert kept == {made[0].id} and made[0].tested_at is not None
        assert len(left) == 2
        for gone in {b.id for b in made} - kept:
            assert not backup_folder(settings.backup_folder, gone).exists()
    finally:
        await rt.close()
