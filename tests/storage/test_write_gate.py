"""SQLite writers of one process queue in order instead of meeting SQLite's busy handler."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.storage.engine import READ_ONLY, create_engine


def _no_busy_wait(engine: AsyncEngine) -> None:
    """Make SQLite refuse a second writer at once, so only the gate can order them."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=0")


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    _no_busy_wait(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    await engine.dispose()


async def test_concurrent_writers_of_one_process_all_commit_in_turn(engine: AsyncEngine) -> None:
    async def write(n: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.005)  # hold the lock across a loop turn

    await asyncio.gather(*(write(n) for n in range(20)))

    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
    # With SQLite's busy handler off, any two writers meeting at SQLite would have failed.
    assert stored == 20


async def test_a_failed_writer_lets_the_next_one_in(engine: AsyncEngine) -> None:
    async def fail() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (n) VALUES (1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    async with asyncio.timeout(5), engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (n) VALUES (2)"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM t"))).scalars().all() == [2]


async def test_readers_never_wait_for_the_gate(engine: AsyncEngine) -> None:
    async with engine.begin() as writer:
        await writer.execute(text("INSERT INTO t (n) VALUES (7)"))
        reader_options = {READ_ONLY: True}
        async with asyncio.timeout(5), engine.connect() as reader:
            reader = await reader.execution_options(**reader_options)
            async with reader.begin():
                seen = (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert seen == 0  # the writer has not committed yet


async def test_a_writer_cancelled_mid_transaction_lets_the_next_one_in(engine: AsyncEngine) -> None:
    holding = asyncio.Event()

    async def stuck() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (n) VALUES (1)"))
            holding.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(stuck())
    await holding.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5), engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (n) VALUES (2)"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT n FROM t"))).scalars().all() == [2]
