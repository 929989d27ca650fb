"""A scratch SQLite engine (a recovery test's copy) syncs nothing; triad's own syncs commits."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from triadops.storage.engine import create_engine

FULL, OFF = 2, 0


@pytest.mark.parametrize(("scratch", "expected"), [(False, FULL), (True, OFF)])
async def test_only_a_scratch_copy_goes_unsynced(
    tmp_path: Path, scratch: bool, expected: int
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'copy.sqlite'}", scratch=scratch)
    try:
        async with engine.connect() as conn:
            synchronous = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
            journal = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await engine.dispose()
    assert synchronous == expected
    assert journal == "wal"  # read as triad reads its own database, whatever the copy
