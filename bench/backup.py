"""A database backup and its recovery test, beside the raw tools, on SQLite and PostgreSQL.

    python bench/backup.py [--quick]

The database is triad's own with a filler table of random 64 KiB blobs (200 MB, 20 MB with
--quick): a SQLite file, and a PostgreSQL database (``triad_bench_backup`` on the server of
``TRIAD_BENCH_PG``, default ``postgresql://postgres@127.0.0.1:5432``; dropped after).

SQLite: triad's backup is SQLite's backup API into a file (in one step), plus the sha256 of
the file, row counts, the manifest and an fsync. It is timed beside two raw backups: the
sqlite3 shell's ``.backup`` (where ``sqlite3`` is on PATH; the issue's raw tool, 100 pages
a step) and the backup API in one step alone. Its recovery test (a size check, the copy's
sha256, row counts and the ledger replayed on the copy) is timed beside two raw restores:
the shell's ``.restore`` into a scratch file, and a plain file copy (the fastest there
is), each followed by ``PRAGMA integrity_check``.

PostgreSQL: the raw backup is ``pg_dump -Fc`` alone; triad's adds the exported snapshot's
row counts, the dump's sha256, the manifest and an fsync. The raw restore is ``createdb``,
``pg_restore`` and ``dropdb``; triad's recovery test adds the dump's sha256 first, row
counts and the ledger replayed on the scratch database.

Each is the best of 6 in the same run, raw and triad's taken turn about (each going first
every other round), every timing starting after ``sync``.
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
from functools import partial
from pathlib import Path

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from table import Row, cli
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.actions.base import ActionContext
from triadops.ops.backup.recovery import RestoreTestAction, RestoreTestParams
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.dumps import sqlite_backup, sqlite_integrity

AIM = 0.9
RUNS = 6
PG = os.environ.get("TRIAD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
PG_DATABASE = "triad_bench_backup"
BLOB = 65536
SHELL = shutil.which("sqlite3")
"""The sqlite3 shell, where installed (Debian's ``sqlite3``): the issue's raw tool."""


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
    scratch.unlink()


def raw_shell_backup(source: Path, target: Path) -> None:
    """The sqlite3 shell's ``.backup``, the issue's raw tool (the backup API, 100 pages a step)."""
    assert SHELL is not None
    subprocess.run([SHELL, str(source), f".backup '{target}'"], check=True, timeout=3600)


def raw_shell_restore(source: Path, scratch: Path) -> None:
    """The sqlite3 shell's ``.restore`` of the backup into a scratch file, then its check."""
    assert SHELL is not None
    subprocess.run([SHELL, str(scratch), f".restore '{source}'"], check=True, timeout=3600)
    assert sqlite_integrity(scratch) == []
    scratch.unlink()


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


async def settled(work: Callable[[], Awaitable[object]]) -> float:
    """Time `work` from a settled machine: no dirty pages of an earlier step being written."""
    await asyncio.to_thread(os.sync)
    return await timed(work())


@dataclasses.dataclass
class Timings:
    """Seconds per run of each way, and the backup's size."""

    raw_backups: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """A raw backup's times by its name."""
    ours: list[float] = dataclasses.field(default_factory=list)
    raw_restores: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """A raw restore's times by its name."""
    ours_back: list[float] = dataclasses.field(default_factory=list)
    size: int = 0


async def measure(
    rt: Runtime,
    raw_backups: dict[str, Callable[[Path], None]],
    raw_restores: dict[str, Callable[[Path], None]],
) -> Timings:
    """Time the raw tools and triad's actions RUNS times each, the order swapped each round.

    Each timing starts after ``sync``, so no step pays for writing back the last one's
    pages, and raw and triad's go first by turns, so neither always follows the other.
    """
    ctx = ActionContext(
        settings=rt.settings,
        databases=rt.databases,
        operation_id="op-bench",
        step_index=0,
        idempotency_key="op-bench:0",
        log=structlog.get_logger(),
    )
    found = Timings(
        raw_backups={name: [] for name in raw_backups},
        raw_restores={name: [] for name in raw_restores},
    )
    for i in range(RUNS):
        target = rt.settings.home / f"raw-{i}.copy"
        made: dict[str, object] = {}
        backup = partial(_backup, dataclasses.replace(ctx, idempotency_key=f"op-bench:{i}"), made)
        for name, raw_backup in raw_backups.items():  # each writes the raw restores' file anew
            raw_b = partial(asyncio.to_thread, _anew, raw_backup, target)
            for times, work in _turns(i, (found.raw_backups[name], raw_b), (found.ours, backup)):
                times.append(await settled(work))
        restore_test = partial(_restore_test, ctx, made)
        for name, raw_restore in raw_restores.items():
            raw_r = partial(asyncio.to_thread, raw_restore, target)
            turns = _turns(i, (found.raw_restores[name], raw_r), (found.ours_back, restore_test))
            for times, work in turns:
                times.append(await settled(work))
        found.size = int(str(made["size_bytes"]))
        target.unlink()
    return found


def _anew(raw_backup: Callable[[Path], None], target: Path) -> None:
    target.unlink(missing_ok=True)
    raw_backup(target)


async def _backup(ctx: ActionContext, made: dict[str, object]) -> None:
    made.update(await DatabaseBackupAction().run(ctx, BackupParams()))


async def _restore_test(ctx: ActionContext, made: dict[str, object]) -> None:
    await RestoreTestAction().run(ctx, RestoreTestParams(backup_id=str(made["backup_id"])))


Timed = tuple[list[float], Callable[[], Awaitable[object]]]


def _turns(round_: int, raw: Timed, ours: Timed) -> list[Timed]:
    """Raw first on even rounds, triad's first on odd ones."""
    return [raw, ours] if round_ % 2 == 0 else [ours, raw]


def figures(kind: str, found: Timings) -> list[Row]:
    """The backup beside each raw backup, then the recovery test beside each raw restore."""
    mb = found.size / 1e6
    backup, test = f"backup run database, {kind}", f"backup test-restore, {kind}"
    return [_row(backup, mb, found.ours, *raw) for raw in found.raw_backups.items()] + [
        _row(test, mb, found.ours_back, *raw) for raw in found.raw_restores.items()
    ]


def _row(path: str, mb: float, ours: list[float], name: str, raw: list[float]) -> Row:
    """Triad's best beside a raw way's best, held against the aim."""
    best, best_raw = min(ours), min(raw)
    ratio = best_raw / best
    return Row(
        path=f"{path}: {mb:.0f} MB",
        measured=f"{mb / best:,.0f} MB/s ({best:.2f}s, best of {len(ours)})",
        baseline=f"{name} alone: {mb / best_raw:,.0f} MB/s ({best_raw:.2f}s)",
        ratio=ratio,
        aim=f"≥{AIM}x",
        met=ratio >= AIM,
    )


async def sqlite_rows(megabytes: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = await Runtime.open(Settings(home=Path(tmp), monitor=False))
        try:
            db = Path(str(rt.settings.sqlite_file))
            await asyncio.to_thread(fill_sqlite, db, megabytes)
            pages = rt.settings.backups.sqlite_pages_per_step
            scratch = Path(tmp) / "restored.sqlite"

            def raw_backup(target: Path) -> None:
                sqlite_backup(db, target, pages=pages)

            backups: dict[str, Callable[[Path], None]] = {"the backup API in one step": raw_backup}
            restores: dict[str, Callable[[Path], None]] = {}
            if SHELL is not None:
                backups["sqlite3 .backup"] = partial(raw_shell_backup, db)
                restores["sqlite3 .restore and integrity_check"] = partial(
                    raw_shell_restore, scratch=scratch
                )
            restores["copy and integrity_check"] = partial(raw_sqlite_restore, scratch=scratch)
            found = await measure(rt, backups, restores)
        finally:
            await rt.close()
    return figures("sqlite", found)


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

                found = await measure(
                    rt,
                    {"pg_dump -Fc": raw_backup},
                    {"createdb, pg_restore, dropdb": raw_pg_restore},
                )
            finally:
                await rt.close()
    finally:
        async with server.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        await server.dispose()
    return figures("postgresql", found)


async def rows(quick: bool) -> list[Row]:
    """Backup and recovery-test throughput beside the raw tools', best of 6 each."""
    megabytes = 20 if quick else 200
    return await sqlite_rows(megabytes) + await postgres_rows(megabytes)


if __name__ == "__main__":
    cli(rows, __doc__)
