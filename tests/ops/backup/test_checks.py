"""The three backup checks on real backups (both databases): each measures what it says,
fails with a precise reason, and judges the backup its operation made or tested."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text, update

from tests.actions.test_backup import backup, context
from tests.checks.test_builtin import context as check_context
from tests.fixtures.pipeline import load
from tests.ops.backup.test_on_the_clock import (
    backup_through_the_pipeline,
    recovery_request,
    run,
)
from triadops.actions.backup_files import backup_folder
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import CheckResult
from triadops.ops.backup.checks import (
    BackupCompletenessConfirmed,
    BackupIntegrityVerified,
    RecoveryTestSuccessful,
)
from triadops.runtime import Runtime
from triadops.storage.tables import BackupRow

CHECKS = (BackupIntegrityVerified(), BackupCompletenessConfirmed(), RecoveryTestSuccessful())


async def judged(runtime: Runtime) -> dict[str, CheckResult]:
    ctx = check_context(runtime)
    found = {}
    for check in CHECKS:
        after = await check.measure(ctx)
        found[check.name] = check.judge(ctx, {}, after)
    return found


def the_file(runtime: Runtime, made: dict[str, object]) -> Path:
    folder = backup_folder(runtime.settings.backup_folder, str(made["backup_id"]))
    (path,) = [p for p in folder.iterdir() if p.name != "manifest.json"]
    return path


async def test_with_no_backup_every_check_fails_saying_so(runtime: Runtime) -> None:
    for result in (await judged(runtime)).values():
        assert not result.passed and result.detail == "no backup is stored"


async def test_a_fresh_backup_is_intact_and_complete_but_not_yet_recovery_tested(
    runtime: Runtime,
) -> None:
    made = await backup(context(runtime))
    found = await judged(runtime)
    name = the_file(runtime, made).name
    integrity = found["backup_integrity_verified"]
    assert integrity.passed, integrity.detail
    assert integrity.detail == (
        f"backup {made['backup_id']}: 1 files, {made['size_bytes']} bytes match their sha256"
    )
    complete = found["backup_completeness_confirmed"]
    assert complete.passed, complete.detail
    assert complete.detail.startswith(f"backup {made['backup_id']}: all {made['tables']} tables")
    tested = found["recovery_test_successful"]
    assert not tested.passed
    assert tested.detail == f"backup {made['backup_id']}: no recovery test has passed"
    assert name in {"database.sqlite", "database.dump"}


async def test_a_flipped_byte_fails_integrity_naming_the_file_and_a_missing_one_completeness(
    runtime: Runtime,
) -> None:
    made = await backup(context(runtime))
    path = the_file(runtime, made)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    found = await judged(runtime)
    assert not found["backup_integrity_verified"].passed
    assert found["backup_integrity_verified"].detail.startswith(
        f"backup {made['backup_id']}: {path.name}: "
    )
    assert "sha256" in found["backup_integrity_verified"].detail
    assert found["backup_completeness_confirmed"].passed  # the same size: integrity's to find

    path.unlink()
    found = await judged(runtime)
    assert found["backup_completeness_confirmed"].detail == (
        f"backup {made['backup_id']}: {path.name}: missing"
    )
    assert not found["backup_completeness_confirmed"].passed


async def test_a_table_the_manifest_does_not_count_fails_completeness(runtime: Runtime) -> None:
    made = await backup(context(runtime))
    async with runtime.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE zz_extra (id INTEGER PRIMARY KEY)"))
    try:
        result = (await judged(runtime))["backup_completeness_confirmed"]
        assert not result.passed
        assert result.detail == (
            f"backup {made['backup_id']}: no row count in its manifest for zz_extra"
        )
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(text("DROP TABLE zz_extra"))


async def test_the_procedures_judge_their_own_backup_and_an_edited_row_fails_the_recovery_check(
    runtime: Runtime,
) -> None:
    made = await load(runtime, await backup_through_the_pipeline(runtime))
    assert made.validation_result is not None and made.validation_result.passed
    findings = {f.name: f for f in made.validation_result.findings}
    for name in ("backup_integrity_verified", "backup_completeness_confirmed"):
        assert findings[name].passed, findings[name].detail
        assert findings[name].after["backup"] == made.steps[0].output["backup_id"]
        assert findings[name].before == {  # nothing read before the step runs
            "backup": None,
            "reason": "pending: this operation's backup step has not run yet",
        }
    req = recovery_request()
    status, reason, output = await run(runtime, req)
    assert status == OperationStatus.COMPLETED, reason
    op = await load(runtime, req.operation_id)
    assert op.validation_result is not None
    (finding,) = [f for f in op.validation_result.findings if f.name == "recovery_test_successful"]
    assert finding.passed and finding.detail.startswith(f"backup {output['backup_id']}: recovery ")

    newest = await backup(context(runtime))  # untested: the one the checks now judge
    async with runtime.engine.begin() as conn:
        await conn.execute(
            update(BackupRow)
            .where(BackupRow.id == newest["backup_id"])
            .values(
                tested_at=op.created_at,
                tested_checksum=newest["checksum"],
                tested_by=op.operation_id,
            )
        )
    result = (await judged(runtime))["recovery_test_successful"]
    assert not result.passed
    assert result.detail == (
        f"backup {newest['backup_id']}: its row claims a recovery test (by {op.operation_id}) "
        "that the ledger does not record"
    )
