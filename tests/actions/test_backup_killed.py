"""A backup SIGKILLed midway: nothing is stored, and the next backup removes what it left."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.actions.conftest import action_context
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings
from triadops.storage.backups import list_backups

ROOT = Path(__file__).parents[2]
SCRIPT = """
import asyncio, sys
from tests.actions.conftest import action_context
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.runtime import Runtime
from triadops.settings import Settings

async def main():
    settings = Settings(
        home=sys.argv[1], database_url=sys.argv[2], monitor=False,
        backups={"sqlite_pages_per_step": 1},
    )
    rt = await Runtime.open(settings, migrate=False)
    await DatabaseBackupAction().run(action_context(rt.settings, rt.databases), BackupParams())

asyncio.run(main())
"""


def fill(path: Path, megabytes: int) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        conn.executemany(
            "INSERT INTO filler (data) VALUES (randomblob(65536))", [()] * (megabytes * 16)
        )


def partial_copy(root: Path) -> Path | None:
    for folder in root.glob("*.partial"):
        copy = folder / "database.sqlite"
        if copy.exists() and copy.stat().st_size > 0:
            return folder
    return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_killed_backup_stores_nothing_and_is_cleaned_at_the_next_start(
    runtime: Runtime, tmp_path: Path
) -> None:
    db = Path(str(runtime.settings.sqlite_file))
    await asyncio.to_thread(fill, db, 40)
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    log = tmp_path / "backup.stderr"
    root = runtime.settings.backup_folder
    deadline = time.monotonic() + 60
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SCRIPT,
                str(runtime.settings.home),
                runtime.settings.database_url,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        while (left := partial_copy(root) if root.exists() else None) is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the backup never started writing"
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert left.exists(), "killed midway: its partial folder stays until the next start"
    async with runtime.session(read_only=True) as session:
        assert await list_backups(session) == []

    ctx = action_context(
        runtime.settings.model_copy(update={"backups": BackupSettings()}), runtime.databases
    )
    made = await DatabaseBackupAction().run(ctx, BackupParams())
    assert not left.exists()
    assert sorted(p.name for p in root.iterdir()) == [made["backup_id"]]
    assert made["row_counts"]["filler"] == 40 * 16  # type: ignore[index]
