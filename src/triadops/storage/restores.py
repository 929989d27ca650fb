"""A backup written over a live database: SQLite's online backup API run the other way.

PostgreSQL's restore is ``pg_restore`` (run in ``actions``); here is SQLite's. The backup
API copies every page of the backup file into the target inside one write transaction of
the target: readers of the target see the old database or the new one, never a mix, and a
failure leaves the old one.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000
"""How long the restore waits for the target's other writers before it gives up."""


def sqlite_restore(backup_file: Path, target: Path) -> str:
    """Replace the database in `target` with the one in `backup_file`; return SQLite's version.

    Blocking: call it in a thread. All pages in one step, so the target is never half
    copied; the target keeps its own journal mode (WAL stays WAL).
    """
    with (
        closing(sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000)) as dst,
    ):
        src.backup(dst, pages=-1)
    return sqlite3.sqlite_version
