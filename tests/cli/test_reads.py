"""CLI reads never wait for a writer: with SQLite's write lock held elsewhere they finish."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.conftest import Triad

READS = [
    ("ops", "list"),
    ("ops", "show", "op-r"),
    ("token", "list"),
    ("audit", "log"),
    ("audit", "verify"),
]


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as a busy writer would."""
    conn = sqlite3.connect(database, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO audit_logs (created_at, actor, action, detail) VALUES "
        "('2026-01-01 00:00:00', 'x', 'y', '{}')"
    )
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_reads_finish_while_a_writer_holds_the_lock(
    triad: Triad, cli_env: dict[str, str], args: tuple[str, ...]
) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-r", "--wait").exit_code == 0
    database = Path(cli_env["TRIAD_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
    with write_lock_held(database), ThreadPoolExecutor(1) as pool:
        # A command that wanted the write lock would wait out the 30 s busy timeout;
        # this one must finish while the lock is still held.
        result = pool.submit(triad, *args).result(timeout=20)
        assert result.exit_code == 0, result.output
