"""``backup.database``, ``backup.verify``, ``backup.test_restore``: real databases and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.actions.conftest import action_context
from tests.fixtures.pipeline import request, submit
from triadops.actions.backup import (
    BackupIdParams,
    BackupParams,
    DatabaseBackupAction,
    VerifyBackupAction,
)
from triadops.actions.base import ActionContext
from triadops.domain.backups import MANIFEST_NAME, BackupManifest
from triadops.domain.errors import ActionFailed, NotFound
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings
from triadops.storage.backups import find_backup, list_backups

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def context(runtime: Runtime, step: int = 0, **backups: object) -> ActionContext:
    settings = runtime.settings.model_copy(update={"backups": BackupSettings(**backups)})  # type: ignore[arg-type]
    return action_context(settings, runtime.databases, step)


async def backup(ctx: ActionContext) -> dict[str, object]:
    return dict(await DatabaseBackupAction().run(ctx, BackupParams()))


async def test_a_backup_is_stored_complete_and_passes_its_recovery_test(runtime: Runtime) -> None:
    await submit(runtime, request())
    await submit(runtime, request())
    ctx = context(runtime)
    made = await backup(ctx)
    folder = Path(str(made["folder"]))
    assert folder.parent == ctx.settings.backup_folder
    assert not any(p.name.endswith(".partial") for p in folder.parent.iterdir())
    written = BackupManifest.model_validate_json((folder / MANIFEST_NAME).read_bytes())
    assert written.checksum() == made["checksum"]
    assert written.row_counts["ledger"] > 0 and "alembic_version" not in written.row_counts
    assert {f.name for f in written.files} == {p.name for p in folder.iterdir()} - {MANIFEST_NAME}
    assert (
        int(str(made["size_bytes"]))
        == sum(f.stat().st_size for f in folder.iterdir()) - (folder / MANIFEST_NAME).stat().st_size
    )
    async with runtime.session(read_only=True) as session:
        row = await find_backup(session, str(made["backup_id"]))
    assert row is not None and row.checksum == made["checksum"] and row.tested_at is None

    params = BackupIdParams(backup_id=str(made["backup_id"]))
    verified = await VerifyBackupAction().run(ctx, params)
    assert verified["files_checked"] == 1
    tested = await RestoreTestAction().run(ctx, params)
    assert tested["passed"] is True and tested["checksum"] == made["checksum"]
    checks = " ".join(str(c) for c in tested["checks"])  # type: ignore[union-attr]
    assert "audit verify" in checks and "row counts" in checks


@SQLITE
async def test_sqlite_restore_is_integrity_checked_and_its_scratch_removed(
    runtime: Runtime, tmp_path: Path
) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    tested = await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))
    assert "PRAGMA integrity_check: ok" in tested["checks"]  # type: ignore[operator]
    assert not Path(str(tested["restored_into"])).exists()


@POSTGRES
async def test_postgres_restores_into_a_scratch_database_that_is_dropped(runtime: Runtime) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    manifest = BackupManifest.model_validate_json(
        (Path(str(made["folder"])) / MANIFEST_NAME).read_bytes()
    )
    assert manifest.format == "pg_dump_custom" and manifest.tools["pg_dump"].startswith("pg_dump")
    tested = await RestoreTestAction().run(ctx, BackupIdParams(backup_id=manifest.id))
    scratch = str(tested["restored_into"]).removeprefix("database ")
    assert scratch.startswith("triad_restore_")
    assert scratch not in await database_names(runtime.databases.get("triad"))


async def test_a_flipped_byte_fails_verify_and_recovery_test_naming_the_file(
    runtime: Runtime,
) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    (dump,) = [p for p in Path(str(made["folder"])).iterdir() if p.name != MANIFEST_NAME]
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    params = BackupIdParams(backup_id=str(made["backup_id"]))
    with pytest.raises(ActionFailed, match=rf"{dump.name}: sha256 [0-9a-f]+, the manifest says"):
        await VerifyBackupAction().run(ctx, params)
    with pytest.raises(ActionFailed, match=rf"{dump.name}: sha256"):
        await RestoreTestAction().run(ctx, params)


@SQLITE
async def test_a_byte_sqlite_never_reads_still_fails_the_recovery_test_naming_the_file(
    runtime: Runtime,
) -> None:
    """Integrity, counts and the ledger all pass on such a copy: only its sha256 tells."""
    ctx = context(runtime)
    made = await backup(ctx)
    path = Path(str(made["folder"])) / "database.sqlite"
    data = bytearray(path.read_bytes())
    # Page 1's unallocated gap: after the b-tree page's cell pointers, before its cells.
    interior = data[100] in (2, 5)
    cells = int.from_bytes(data[103:105], "big")
    gap_start = 100 + (12 if interior else 8) + 2 * cells
    gap_end = int.from_bytes(data[105:107], "big") or 65536
    assert gap_end - gap_start > 2
    data[(gap_start + gap_end) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(
        ActionFailed, match=r"database\.sqlite: sha256 [0-9a-f]+, the manifest says"
    ):
        await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))


@SQLITE
async def test_a_missing_file_fails_verify_naming_it(runtime: Runtime) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    (Path(str(made["folder"])) / "database.sqlite").unlink()
    with pytest.raises(ActionFailed, match=r"database\.sqlite: missing"):
        await VerifyBackupAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))


@SQLITE
async def test_an_edited_manifest_file_fails_verify_naming_it(runtime: Runtime) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    path = Path(str(made["folder"])) / MANIFEST_NAME
    data = json.loads(path.read_bytes())
    data["row_counts"]["ledger"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(ActionFailed, match=r"manifest\.json: differs from the stored manifest"):
        await VerifyBackupAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))


@SQLITE
async def test_what_a_killed_backup_left_is_removed_at_the_next_start(runtime: Runtime) -> None:
    ctx = context(runtime)
    root = ctx.settings.backup_folder
    left = root / "db-20260101T000000Z-abcdef.partial"
    left.mkdir(parents=True)
    (left / "database.sqlite").write_bytes(b"half a copy")
    stray = root / "loose.partial"
    stray.write_bytes(b"x")
    made = await backup(ctx)
    assert not left.exists() and not stray.exists()
    assert sorted(p.name for p in root.iterdir()) == [made["backup_id"]]
    async with runtime.session(read_only=True) as session:
        assert await find_backup(session, "db-20260101T000000Z-abcdef") is None


@SQLITE
async def test_a_backup_folder_that_cannot_be_written_is_a_clear_error_and_nothing_is_stored(
    runtime: Runtime, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    folder = blocker / "backups"  # under a file: never creatable, even for root
    with pytest.raises(ActionFailed, match=rf"backup folder {folder}: Not a directory"):
        await backup(context(runtime, folder=folder))
    async with runtime.session(read_only=True) as session:
        assert await list_backups(session) == []


@SQLITE
async def test_an_unknown_backup_is_named(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="no backup 'nope'"):
        await VerifyBackupAction().run(context(runtime), BackupIdParams(backup_id="nope"))


@POSTGRES
async def test_a_missing_or_old_pg_dump_is_a_clear_error(runtime: Runtime, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ActionFailed, match=r"pg_dump not found in backups\.pg_bin"):
        await backup(context(runtime, pg_bin=empty))
    old = tmp_path / "old"
    old.mkdir()
    tool = old / "pg_dump"
    tool.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    tool.chmod(0o755)
    with pytest.raises(ActionFailed, match=r"pg_dump 9 .* is older than the server's PostgreSQL"):
        await backup(context(runtime, pg_bin=old))
    assert not any(ctx_folder.name.endswith(".partial") for ctx_folder in _entries(runtime))


def _entries(runtime: Runtime) -> list[Path]:
    root = runtime.settings.backup_folder
    return list(root.iterdir()) if root.exists() else []


async def database_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.scalars(text("SELECT datname FROM pg_database"))).all())
