"""An engine disposed of while a connection is out still closes that connection."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

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
