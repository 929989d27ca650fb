"""A passed recovery test is a ledger fact; a row edited to claim one is found by the audit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from tests.fixtures.api import drive
from tests.fixtures.pipeline import load, request, submit
from triadops.constitution.ledger.audit import verify
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.storage.backups import find_backup, list_backups
from triadops.storage.tables import BackupRow, LedgerRow

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def run_steps(runtime: Runtime, *steps: tuple[str, dict[str, object]]) -> dict[str, object]:
    req = request(list(steps), affected_systems=["backups"])
    await submit(runtime, req)
    await drive(runtime)
    op = await load(runtime, req.operation_id)
    assert op.status == OperationStatus.COMPLETED, (op.status, op.status_reason)
    return {"id": op.operation_id, "outputs": [s.output for s in op.steps]}


async def backup_and_test(runtime: Runtime) -> tuple[str, str, str]:
    await run_steps(runtime, ("backup.database", {}))
    async with runtime.session(read_only=True) as session:
        (row,) = await list_backups(session)
    tested = await run_steps(runtime, ("backup.test_restore", {"backup_id": row.id}))
    return row.id, row.checksum, str(tested["id"])


async def test_a_passed_recovery_test_is_recorded_in_the_ledger_and_verifies(
    runtime: Runtime,
) -> None:
    backup_id, checksum, op_id = await backup_and_test(runtime)
    async with runtime.session(read_only=True) as session:
        row = await find_backup(session, backup_id)
        assert row is not None
        assert (row.tested_checksum, row.tested_by) == (checksum, op_id)
        assert row.tested_at is not None
        facts = await session.scalars(
            select(LedgerRow).where(LedgerRow.event == "backup_restore_tested")
        )
        (fact,) = facts.all()
    assert fact.operation_id == op_id
    assert fact.details == {"backup": backup_id, "checksum": checksum}
    async with runtime.session(read_only=True) as session:
        report = await verify(session)
    assert report.ok, report.discrepancies


@SQLITE
async def test_audit_verify_finds_a_row_edited_to_claim_a_recovery_test(runtime: Runtime) -> None:
    await run_steps(runtime, ("backup.database", {}), ("backup.database", {}))
    async with runtime.session(read_only=True) as session:
        rows = await list_backups(session)
    async with runtime.session() as session:
        await session.execute(
            update(BackupRow)
            .where(BackupRow.id == rows[0].id)
            .values(
                tested_at=datetime(2026, 1, 1, tzinfo=UTC),
                tested_checksum=rows[0].checksum,
                tested_by="op-made-up",
            )
        )
        await session.commit()
    async with runtime.session(read_only=True) as session:
        report = await verify(session)
    assert not report.ok
    (found,) = report.discrepancies
    assert (found.kind, found.subject) == ("backup", f"backup {rows[0].id}")
    assert "the ledger does not record" in found.problem


@SQLITE
async def test_audit_verify_finds_a_tested_backup_whose_manifest_was_replaced(
    runtime: Runtime,
) -> None:
    backup_id, _, _ = await backup_and_test(runtime)
    async with runtime.session() as session:
        await session.execute(
            update(BackupRow).where(BackupRow.id == backup_id).values(checksum="0" * 64)
        )
        await session.commit()
    async with runtime.session(read_only=True) as session:
        report = await verify(session)
    (found,) = report.discrepancies
    assert found.subject == f"backup {backup_id}" and "is not the one" in found.problem


@SQLITE
async def test_a_failed_recovery_test_records_no_fact(runtime: Runtime) -> None:
    await run_steps(runtime, ("backup.database", {}))
    async with runtime.session(read_only=True) as session:
        (row,) = await list_backups(session)
    folder = runtime.settings.backup_folder / row.id
    (folder / "database.sqlite").write_bytes(b"not the backup")
    req = request([("backup.test_restore", {"backup_id": row.id})], affected_systems=["backups"])
    await submit(runtime, req)
    await drive(runtime)
    op = await load(runtime, req.operation_id)
    assert op.status != OperationStatus.COMPLETED
    assert "database.sqlite" in (op.steps[0].error or "")
    async with runtime.session(read_only=True) as session:
        again = await find_backup(session, row.id)
        assert again is not None and again.tested_at is None
        report = await verify(session)
    assert report.ok, report.discrepancies
