"""A database backup and its recovery test, beside the raw tools, on SQLite and PostgreSQL.

    python bench/backup.py [--quick]

The database is triad's own with a filler table of random 64 KiB blobs (200 MB, 20 MB with
--quick): a SQLite file, and a PostgreSQL database (``triad_bench_backup`` on the server of
``TRIAD_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``; dropped after).

SQLite: the raw backup is SQLite's backup API alone into a file (as triad calls it: the
same pages per step); triad's adds the sha256 of the file, row counts, the manifest and an
fsync. The raw restore is a file copy and ``PRAGMA integrity_check``; triad's recovery
test adds a size check, the copy's sha256, row counts and the ledger replayed on the copy.

PostgreSQL: the raw backup is ``pg_dump -Fc`` alone; triad's adds the exported snapshot's
row counts, the dump's sha256, the manifest and an fsync. The raw restore is ``createdb``,
``pg_restore`` and ``dropdb``; triad's recovery test adds the dump's sha256 first, row
counts and the ledger replayed on the scratch database.

Each is the best of 3 in the same run, raw and triad's taken turn about.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from table import Row, cli
from triadops.actions.backup import BackupIdParams, BackupParams, DatabaseBackupAction
from triadops.actions.base import ActionContext
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.dumps import sqlite_backup, sqlite_integrity

AIM = 0.9
RUNS = 3
PG = os.environ.get("TRIAD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
PG_DATABASE = "triad_bench_backup"
BLOB = 65536


def fill_sqlite(path: Path, megabytes: int) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
        for _ in range(megabytes):
            conn.executemany("INSERT INTO filler (data) VALUES (randomblob(65536))", [()] * 16)
            conn.commit()


async def fill_postgres(rt: Runtime, megabytes: int) -> None:
    engine = rt.databases.get("triad")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE filler (id serial PRIMARY KEY, data bytea)"))
        await conn.execute(text("ALTER TABLE filler ALTER COLUMN data SET STORAGE EXTERNAL"))
    for _ in range(megabytes):
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO filler (data) VALUES (:data)"),
                [{"data": os.urandom(BLOB)} for _ in range(16)],
            )


def raw_sqlite_restore(source: Path, scratch: Path) -> None:
    shutil.copyfile(source, scratch)
    assert sqlite_integrity(scratch) == []


def tool(name: str, *args: str) -> None:
    host, port = PG.removeprefix("postgresql://").split("@")[-1].split(":")
    argv = [name, "--no-password", "--host", host, "--port", port, "--username", "postgres"]
    subprocess.run([*argv, *args], check=True, timeout=3600, capture_output=True)


def raw_pg_restore(dump: Path) -> None:
    tool("createdb", "triad_bench_raw_restore")
    try:
        tool(
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname=triad_bench_raw_restore",
            str(dump),
        )
    finally:
        tool("dropdb", "--force", "triad_bench_raw_restore")


async def timed(work: Awaitable[object]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def measure(
    rt: Runtime, raw_backup: Callable[[Path], None], raw_restore: Callable[[Path], None]
) -> tuple[list[float], list[float], list[float], list[float], int]:
    """Time the raw tools and triad's actions, turn about, RUNS times each."""
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
    for i in range(RUNS):
        target = rt.settings.home / f"raw-{i}.copy"
        raw.append(await timed(asyncio.to_thread(raw_backup, target)))
        each = dataclasses.replace(ctx, idempotency_key=f"op-bench:{i}")
        started = time.perf_counter()
        made = await DatabaseBackupAction().run(each, BackupParams())
        ours.append(time.perf_counter() - started)
        size = int(str(made["size_bytes"]))
        raw_back.append(await timed(asyncio.to_thread(raw_restore, target)))
        params = BackupIdParams(backup_id=str(made["backup_id"]))
        ours_back.append(await timed(RestoreTestAction().run(ctx, params)))
        target.unlink()
    return raw, ours, raw_back, ours_back, size


def figures(
    kind: str,
    timings: tuple[list[float], list[float], list[float], list[float], int],
    raw_name: str,
    raw_restore_name: str,
) -> list[Row]:
    raw, ours, raw_back, ours_back, size = timings
    mb = size / 1e6
    backup_ratio = min(raw) / min(ours)
    restore_ratio = min(raw_back) / min(ours_back)
    return [
        Row(
            path=f"backup run database, {kind}: {mb:.0f} MB",
            measured=f"{mb / min(ours):,.0f} MB/s ({min(ours):.2f}s, best of {RUNS})",
            baseline=f"{raw_name} alone: {mb / min(raw):,.0f} MB/s ({min(raw):.2f}s)",
            ratio=backup_ratio,
            aim=f"≥{AIM}x",
            met=backup_ratio >= AIM,
        ),
        Row(
            path=f"backup test-restore, {kind}: {mb:.0f} MB",
            measured=f"{mb / min(ours_back):,.0f} MB/s ({min(ours_back):.2f}s, best of {RUNS})",
            baseline=(
                f"{raw_restore_name} alone: {mb / min(raw_back):,.0f} MB/s ({min(raw_back):.2f}s)"
            ),
            ratio=restore_ratio,
            aim=f"≥{AIM}x",
            met=restore_ratio >= AIM,
        ),
    ]


async def sqlite_rows(megabytes: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = await Runtime.open(Settings(home=Path(tmp), monitor=False))
        try:
            db = Path(str(rt.settings.sqlite_file))
            await asyncio.to_thread(fill_sqlite, db, megabytes)
            pages = rt.settings.backups.sqlite_pages_per_step

            def raw_backup(target: Path) -> None:
                sqlite_backup(db, target, pages=pages)

            def raw_restore(target: Path) -> None:
                raw_sqlite_restore(target, Path(tmp) / "restored.sqlite")

            timings = await measure(rt, raw_backup, raw_restore)
        finally:
            await rt.close()
    return figures("sqlite", timings, "sqlite3 backup API", "copy and integrity_check")


async def postgres_rows(megabytes: int) -> list[Row]:
    server = create_async_engine(f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/postgres")
    async with server.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        await conn.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    url = f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{PG_DATABASE}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rt = await Runtime.open(Settings(home=Path(tmp), database_url=url, monitor=False))
            try:
                await fill_postgres(rt, megabytes)

                def raw_backup(target: Path) -> None:
                    tool("pg_dump", "--format=custom", f"--file={target}", PG_DATABASE)

                timings = await measure(rt, raw_backup, raw_pg_restore)
            finally:
                await rt.close()
    finally:
        async with server.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        await server.dispose()
    return figures("postgresql", timings, "pg_dump -Fc", "createdb, pg_restore, dropdb")


async def rows(quick: bool) -> list[Row]:
    """Backup and recovery-test throughput beside the raw tools', best of 3 each."""
    megabytes = 20 if quick else 200
    return await sqlite_rows(megabytes) + await postgres_rows(megabytes)


if __name__ == "__main__":
    cli(rows, __doc__)
