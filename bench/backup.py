"""A database backup and its recovery test, beside SQLite's raw backup API and a raw restore.

    python bench/backup.py [--quick]

The database is triad's own SQLite file with a filler table of random blobs (200 MB, 20 MB
with --quick). The raw backup is ``sqlite3.Connection.backup`` alone into a file; triad's
adds the sha256 of the file, row counts, the manifest and an fsync. The raw restore is a
file copy and ``PRAGMA integrity_check``; triad's recovery test adds a sha256 verification,
row counts and, for its own database, the ledger replayed on the copy. Not in ``run.py``'s
table yet: PostgreSQL's (pg_dump and pg_restore alone) is still to come.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import structlog

from table import Row, cli
from triadops.actions.backup import BackupIdParams, BackupParams, DatabaseBackupAction
from triadops.actions.base import ActionContext
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.dumps import sqlite_backup, sqlite_integrity

AIM = 0.9


def fill(path: Path, megabytes: int) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        for _ in range(megabytes):
            conn.executemany("INSERT INTO filler (data) VALUES (randomblob(65536))", [()] * 16)
            conn.commit()


def raw_restore(source: Path, scratch: Path) -> None:
    shutil.copyfile(source, scratch)
    assert sqlite_integrity(scratch) == []


async def rows(quick: bool) -> list[Row]:
    """Backup and recovery-test throughput beside the raw tool's, best of 3 each."""
    megabytes = 20 if quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        rt = await Runtime.open(Settings(home=home, monitor=False))
        try:
            db = Path(str(rt.settings.sqlite_file))
            await asyncio.to_thread(fill, db, megabytes)
            ctx = ActionContext(
                settings=rt.settings,
                databases=rt.databases,
                operation_id="op-bench",
                step_index=0,
                idempotency_key="op-bench:0",
                log=structlog.get_logger(),
            )
            raw, ours, raw_back, ours_back = [], [], [], []
            size = 0
            for i in range(3):
                target = home / f"raw-{i}.sqlite"
                started = time.perf_counter()
                await asyncio.to_thread(sqlite_backup, db, target)
                raw.append(time.perf_counter() - started)
                started = time.perf_counter()
                each = dataclasses.replace(ctx, idempotency_key=f"op-bench:{i}")
                made = await DatabaseBackupAction().run(each, BackupParams())
                ours.append(time.perf_counter() - started)
                size = int(str(made["size_bytes"]))
                started = time.perf_counter()
                await asyncio.to_thread(raw_restore, target, home / "restored.sqlite")
                raw_back.append(time.perf_counter() - started)
                started = time.perf_counter()
                await RestoreTestAction().run(ctx, BackupIdParams(backup_id=str(made["backup_id"])))
                ours_back.append(time.perf_counter() - started)
                target.unlink()
        finally:
            await rt.close()
    mb = size / 1e6
    backup_ratio = min(raw) / min(ours)
    restore_ratio = min(raw_back) / min(ours_back)
    return [
        Row(
            path=f"backup run database, sqlite: {mb:.0f} MB",
            measured=f"{mb / min(ours):,.0f} MB/s ({min(ours):.2f}s, best of 3)",
            baseline=f"sqlite3 backup API alone: {mb / min(raw):,.0f} MB/s",
            ratio=backup_ratio,
            aim=f"≥{AIM}x",
            met=backup_ratio >= AIM,
        ),
        Row(
            path=f"backup test-restore, sqlite: {mb:.0f} MB",
            measured=f"{mb / min(ours_back):,.0f} MB/s ({min(ours_back):.2f}s, best of 3)",
            baseline=f"copy and integrity_check alone: {mb / min(raw_back):,.0f} MB/s",
            ratio=restore_ratio,
            aim=f"≥{AIM}x",
            met=restore_ratio >= AIM,
        ),
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
