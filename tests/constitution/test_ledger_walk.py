"""The chain walk: ledgers hashed by the original encoder verify; forged rows are named.

The walk hashes what storage hands back (the details' stored JSON text, decoded once) with
orjson where that is byte-identical and json elsewhere. These tests write links the way
the chain was first written, with ``json.dumps`` and ``hashlib`` directly, through the
storage functions, and hold both verifiers to them; then forge rows with plain SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections.abc import Iterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.fixtures.json_values import json_values, reference_link_hash, survives_jsonb, texts
from triadops.constitution import ledger
from triadops.constitution.ledger import Pacer, audit
from triadops.domain.ledger import VerifyReport
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.ledger import append_links, head, iterate_link_batches, lock_head

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def append_as_first_written(rt: Runtime, details: list[Any]) -> None:
    """Append one link per details value, hashed by the original encoder."""
    async with rt.session() as session:
        seq, prev = await lock_head(session)
        links = []
        for value in details:
            seq += 1
            # Every other entry on a whole second: isoformat() then drops the fraction.
            at = START + timedelta(seconds=seq, microseconds=0 if seq % 2 else seq)
            body = {
                "seq": seq,
                "at": at.isoformat(),
                "actor": "crown",
                "event": "note",
                "operation_id": None,
                "from_status": None,
                "to_status": None,
                "details": value,
            }
            digest = reference_link_hash(prev, body)
            links.append({**body, "at": at, "prev_hash": prev, "hash": digest})
            prev = digest
        await append_links(session, links)
        await session.commit()


async def both_verdicts(rt: Runtime) -> tuple[VerifyReport, VerifyReport]:
    async with rt.session(read_only=True) as session:
        chain = await ledger.verify(session)
    async with rt.session(read_only=True) as session:
        replayed = await audit.verify(session)
    return chain, replayed


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_ledger_written_by_the_first_encoder_verifies(
    settings: Settings, data: st.DataObject
) -> None:
    """Each example extends the same chain; the whole of it must still verify."""
    on_postgres = "postgresql" in settings.resolved_database_url
    values = st.dictionaries(texts, json_values, max_size=6)  # record() takes a dict
    details = data.draw(
        st.lists(values.filter(survives_jsonb) if on_postgres else values, min_size=1, max_size=30)
    )

    async def extend_and_verify() -> None:
        rt = await Runtime.open(settings, migrate=False)
        try:
            await append_as_first_written(rt, details)
            chain, replayed = await both_verdicts(rt)
            async with rt.session(read_only=True) as session:
                seq, _ = await head(session)
        finally:
            await rt.close()
        assert chain.ok, chain.problem
        assert replayed.ok, (replayed.problem, replayed.discrepancies)
        assert chain.entries_checked == replayed.entries_checked == seq

    asyncio.run(extend_and_verify())


async def test_a_long_ledger_verifies_across_batches(runtime: Runtime) -> None:
    await append_as_first_written(runtime, [{"n": n, "f": n / 7} for n in range(1234)])
    chain, replayed = await both_verdicts(runtime)
    assert chain.ok and replayed.ok
    assert chain.entries_checked == replayed.entries_checked == 1234


async def test_the_walk_gives_the_loop_a_turn_between_batches(runtime: Runtime) -> None:
    await append_as_first_written(runtime, [{"n": n} for n in range(45)])
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    seen = []
    async with (
        runtime.session(read_only=True) as session,
        aclosing(iterate_link_batches(session, batch=10)) as batches,
    ):
        async for _ in batches:
            seen.append(turns)
    other.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await other
    assert len(seen) == 5
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))


async def test_a_walk_stopped_early_leaves_its_session_usable(runtime: Runtime) -> None:
    await append_as_first_written(runtime, [{"n": n} for n in range(30)])
    async with runtime.session(read_only=True) as session:
        async with aclosing(iterate_link_batches(session, batch=10)) as batches:
            async for links in batches:
                assert [link[0] for link in links] == list(range(1, 11))
                break  # the next batch is being read meanwhile
        seq, _ = await head(session)
        assert seq == 30


async def test_an_early_break_is_reported_with_the_rest_unread(runtime: Runtime) -> None:
    await append_as_first_written(runtime, [{"n": n} for n in range(1200)])
    async with runtime.session() as session:
        await session.execute(text("UPDATE ledger SET actor = 'mallory' WHERE seq = 3"))
        await session.commit()
    chain, replayed = await both_verdicts(runtime)
    for report in (chain, replayed):
        assert (report.ok, report.first_bad_seq, report.entries_checked) == (False, 3, 2)
        assert report.problem == "its content does not match its hash (edited)"


FORGERIES = {
    "details that are not JSON": ("details", "{not json"),
    "details with a lone surrogate": ("details", '{"n": "\\ud800"}'),
    "a timestamp that is none": ("at", "yesterday"),
    "a timestamp of another instant": ("at", "2026-01-02 03:04:09.000001"),
    "details of another value": ("details", '{"n": 2}'),
}


# SQLite only: PostgreSQL refuses plain text in a jsonb or timestamptz column.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("forgery", FORGERIES, ids=list(FORGERIES))
async def test_a_forged_row_is_named_not_a_crash(runtime: Runtime, forgery: str) -> None:
    await append_as_first_written(runtime, [{"n": 0}, {"n": 1}, {"n": 2}])
    column, value = FORGERIES[forgery]
    async with runtime.session() as session:
        await session.execute(text(f"UPDATE ledger SET {column} = :v WHERE seq = 2"), {"v": value})
        await session.commit()
    chain, replayed = await both_verdicts(runtime)
    for report in (chain, replayed):
        assert (report.ok, report.first_bad_seq) == (False, 2)
        assert report.problem == "its content does not match its hash (edited)"


async def test_a_top_level_number_sqlite_kept_as_one_verifies(runtime: Runtime) -> None:
    """A JSON column has NUMERIC affinity on SQLite: "0" is stored as the integer 0."""
    await append_as_first_written(runtime, [0, 1.5, "text", [1]])
    chain, replayed = await both_verdicts(runtime)
    assert chain.ok and replayed.ok, (chain.problem, replayed.problem)


# SQLite only: only SQLite keeps a timestamp as text.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("seq", "stored"),
    [
        (1, "2026-01-02 03:04:06"),  # a whole second, written without its zero fraction
        (2, "2026-01-02T03:04:07.000002"),  # ISO 8601 with a T
        (2, "2026-01-02 04:04:07.000002+01:00"),  # the same instant, in another zone
    ],
)
async def test_a_timestamp_in_another_shape_is_read_as_sqlalchemy_reads_it(
    runtime: Runtime, seq: int, stored: str
) -> None:
    await append_as_first_written(runtime, [{"n": 0}, {"n": 1}, {"n": 2}])
    async with runtime.session() as session:
        await session.execute(
            text("UPDATE ledger SET at = :v WHERE seq = :s"), {"v": stored, "s": seq}
        )
        await session.commit()
    chain, replayed = await both_verdicts(runtime)
    assert chain.ok and replayed.ok, (chain.problem, replayed.problem)


async def _burn_cpu(seconds: float) -> None:
    """Other work in the loop: a request's step computing."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Idles:
    """The pauses a pacer asks for, recorded rather than slept (its decision, not a clock)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


async def idled(pacer: Pacer, idles: Idles, *, batch_s: float = 0.05) -> bool:
    """Compute a batch for `batch_s`, then take the pacer's turn: did it ask to idle?"""
    await _burn_cpu(batch_s)
    before = len(idles.asked)
    await pacer.turn()
    return len(idles.asked) > before


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The collector's pauses are CPU this thread spends too: keep them out of the turns."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_collector")
async def test_a_walk_alone_never_idles() -> None:
    idles = Idles()
    pacer = Pacer(idle=idles)
    assert [await idled(pacer, idles) for _ in range(10)] == [False] * 10
    assert idles.asked == []


@pytest.mark.usefixtures("no_collector")
async def test_a_walk_idles_while_others_use_the_loop_and_a_little_after() -> None:
    idles = Idles()
    pacer = Pacer(linger=2, idle=idles)
    await idled(pacer, idles)
    other = asyncio.create_task(_burn_cpu(0.01))  # a request's step: well over busy_s
    assert await idled(pacer, idles)  # the other work ran in this turn: idle as long
    await other
    assert [await idled(pacer, idles) for _ in range(3)] == [True, True, False]
    assert all(asked >= 0.05 for asked in idles.asked), "it idles as long as its batch took"
