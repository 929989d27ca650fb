"""An engine disposed of while a connection is out still closes that connection."""

from __future__ import annotations

import gc
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.engine import create_engine


@contextmanager
def leaks() -> Iterator[list[str]]:
    """Collect the ResourceWarnings of driver connections left to the garbage collector."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        yield found
        gc.collect()
    found += [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]


async def test_a_connection_out_during_dispose_is_closed_when_it_comes_back(
    database_url: str,
) -> None:
    with leaks() as found:
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await engine.dispose()  # a restore does this while a check may hold a session
            await conn.execute(text("SELECT 1"))  # still usable until it is given back
        await engine.dispose()
        del engine, conn
    assert found == []


async def test_the_engine_still_serves_after_dispose(database_url: str) -> None:
    with leaks() as found:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                await engine.dispose()
            async with engine.connect() as again:
                assert (await again.execute(text("SELECT 7"))).scalar_one() == 7
        finally:
            await engine.dispose()
        del engine, conn, again
    assert found == []


async def test_a_runtime_that_fails_to_open_leaves_no_connection(tmp_path: Path) -> None:
    db = tmp_path / "triad.db"
    with sqlite3.connect(db) as taken:  # a table in the migrations' way: upgrade fails
        taken.execute("CREATE TABLE operations (x INTEGER)")
    taken.close()
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite+aiosqlite:///{db}")
    with leaks() as found:
        with pytest.raises(OperationalError, match="already exists"):
            await Runtime.open(settings.model_copy(update={"monitor": False}))
        gc.collect()
    assert found == []
