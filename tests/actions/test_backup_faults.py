"""Faults a backup must survive: a full or read-only folder, a kill after the rename, two at once.

Each fault ends the same way: a clear error naming the folder, nothing marked complete (no
row, no complete folder, no partial left), and the next backup unharmed. The full and
read-only folders are real filesystems (a small tmpfs, remounted read-only: root ignores
file modes), so those tests are SQLite-only and skip, saying why, where mounting is refused.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from tests.actions.conftest import action_context
from tests.fixtures.mounts import remount_read_only, tmpfs
from triadops.actions.backup import (
    BackupIdParams,
    BackupParams,
    DatabaseBackupAction,
    VerifyBackupAction,
)
from triadops.actions.backup_spool import claim, lock_path
from triadops.actions.backup_store import backup_store
from triadops.actions.base import ActionContext
from triadops.domain.errors import ActionFailed, NotFound
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings
from triadops.storage.backups import list_backups

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HOUR = 3600.0


def context(runtime: Runtime, step: int = 0, **backups: object) -> ActionContext:
    """A step's context: each step stores its own backup (a resumed one replaces its own)."""
    settings = runtime.settings.model_copy(update={"backups": BackupSettings(**backups)})  # type: ignore[arg-type]
    return action_context(settings, runtime.databases, step)


async def backup(ctx: ActionContext) -> dict[str, object]:
    return dict(await DatabaseBackupAction().run(ctx, BackupParams()))


async def stored(runtime: Runtime) -> list[str]:
    async with runtime.session(read_only=True) as session:
        return [row.id for row in await list_backups(session)]


def fill(path: Path, kilobytes: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        conn.executemany("INSERT INTO filler (data) VALUES (randomblob(1024))", [()] * kilobytes)


def age(path: Path, seconds: float) -> None:
    """Make `path` look last changed `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@SQLITE
async def test_a_full_backup_folder_is_named_and_nothing_is_marked_complete(
    runtime: Runtime, tmp_path: Path
) -> None:
    await asyncio.to_thread(fill, Path(str(runtime.settings.sqlite_file)), 2048)
    with tmpfs(tmp_path / "full", size="512k") as folder:
        ctx = context(runtime, folder=folder)
        with pytest.raises(ActionFailed) as raised:
            await backup(ctx)
        message = str(raised.value)
        assert message.startswith(f"backup folder {folder}: no space left on device"), message
        assert "nothing stored" in message
        assert list(folder.iterdir()) == [], "no partial, no complete folder, no lock file"
        assert await stored(runtime) == []


@SQLITE
async def test_a_read_only_backup_folder_is_named_and_nothing_is_stored(
    runtime: Runtime, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "ro", size="1m") as folder:
        (folder / "backups").mkdir()
        remount_read_only(folder)
        ctx = context(runtime, folder=folder / "backups")
        with pytest.raises(ActionFailed, match=rf"^backup folder {folder / 'backups'} is not writ"):
            await backup(ctx)
        assert list((folder / "backups").iterdir()) == []
        assert await stored(runtime) == []


async def test_a_complete_folder_no_row_names_is_no_backup_and_goes_once_old(
    runtime: Runtime,
) -> None:
    """Killed between the rename and the row insert: the folder is complete, no row says so."""
    ctx = context(runtime)
    made = await backup(ctx)
    root = ctx.settings.backup_folder
    # What the kill leaves, made the way a backup makes it: a complete folder, then no row.
    old = root / "db-20260101T000000Z-0ld0ld"
    young = root / "db-20260101T000000Z-y0ung0"
    for orphan in (old, young):
        shutil.copytree(Path(str(made["folder"])), orphan)
    age(old, 2 * HOUR)
    with pytest.raises(NotFound, match=f"no backup '{old.name}'"):
        await VerifyBackupAction().run(ctx, BackupIdParams(backup_id=old.name))
    assert old.name not in await stored(runtime)

    again = await backup(context(runtime, step=1))
    assert not old.exists(), "older than the grace period and no row names it: removed"
    assert young.exists(), "maybe a backup between its rename and its insert: left alone"
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [str(made["backup_id"]), str(again["backup_id"]), young.name]
    )
    assert sorted(await stored(runtime)) == sorted([made["backup_id"], again["backup_id"]])


async def test_a_running_backups_partial_folder_is_left_alone_by_another(
    runtime: Runtime,
) -> None:
    ctx = context(runtime)
    running = backup_store(ctx.settings)
    await running.prepare(set())
    partial = await running.start("db-20260101T000000Z-run000")
    (partial / "database.sqlite").write_bytes(b"half a copy, still being written")
    age(partial, 2 * HOUR)  # however old: its writer holds the lock
    try:
        made = await backup(ctx)
        assert (partial / "database.sqlite").exists()
        assert await stored(runtime) == [made["backup_id"]]
    finally:
        await running.discard(partial)
    root = ctx.settings.backup_folder
    assert sorted(p.name for p in root.iterdir()) == [made["backup_id"]]


async def test_a_partial_folder_whose_writer_died_holding_its_lock_is_removed(
    runtime: Runtime,
) -> None:
    ctx = context(runtime)
    root = ctx.settings.backup_folder
    root.mkdir(parents=True)
    _, fd = claim(root, "db-20260101T000000Z-dead00")
    os.close(fd)  # the process died: the kernel let its lock go, the lock file stays
    assert lock_path(root, "db-20260101T000000Z-dead00").exists()
    made = await backup(ctx)
    assert sorted(p.name for p in root.iterdir()) == [made["backup_id"]]


async def test_two_backups_at_once_both_complete(runtime: Runtime) -> None:
    ctx = context(runtime, sqlite_pages_per_step=1)
    other = context(runtime, step=1, sqlite_pages_per_step=1)
    first, second = await asyncio.gather(backup(ctx), backup(other))
    ids = sorted([str(first["backup_id"]), str(second["backup_id"])])
    assert ids[0] != ids[1]
    assert sorted(await stored(runtime)) == ids
    root = ctx.settings.backup_folder
    assert sorted(p.name for p in root.iterdir()) == ids
    for made in (first, second):
        verified = await VerifyBackupAction().run(
            ctx, BackupIdParams(backup_id=str(made["backup_id"]))
        )
        assert verified["files_checked"] == 1


@SQLITE
async def test_a_recovery_test_whose_scratch_fills_up_names_the_full_disk_not_the_hash(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy cut short is the disk's failure: its partial hash is never taken for the backup's."""
    await asyncio.to_thread(fill, Path(str(runtime.settings.sqlite_file)), 2048)
    ctx = context(runtime)
    made = await backup(ctx)
    with tmpfs(tmp_path / "scratch", size="512k") as folder:
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        with pytest.raises(OSError) as raised:
            await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))
        assert raised.value.errno == errno.ENOSPC, raised.value
        assert list(folder.iterdir()) == [], "the scratch is removed"
