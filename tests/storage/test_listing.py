"""Listings by keyset: every page an index walk, every operation once, cursors that hold."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tests.fixtures.pipeline import load, request, submit
from triadops.domain.clock import FakeClock
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.storage.listing import (
    ListingFilters,
    Position,
    cursor_position,
    list_operations,
    listing_cursor,
)
from triadops.worker.claims import drive_once

SCHEDULED, COMPLETED = OperationStatus.SCHEDULED, OperationStatus.COMPLETED
MAINTENANCE, MONITORING = OperationType.MAINTENANCE, OperationType.MONITORING


async def history(rt: Runtime, clock: FakeClock) -> list[Operation]:
    """Store nine operations, newest last, read back as they ended up.

    Every third is ``monitoring``, the rest ``maintenance``; the even ones are driven to
    ``completed``, the odd ones stay ``scheduled``. op-03, op-04 and op-05 share one
    instant, so their order is the id's.
    """
    for n in range(9):
        kind = MONITORING if n % 3 == 0 else MAINTENANCE
        await submit(rt, request(operation_type=kind, operation_id=f"op-{n:02}"))
        if n % 2 == 0:
            while await drive_once(rt.powers, owner="test", only=f"op-{n:02}"):
                pass
        if n not in (3, 4):
            clock.advance(1)
    made = [await load(rt, f"op-{n:02}") for n in range(9)]
    assert {op.status for op in made} == {COMPLETED, SCHEDULED}
    return made


def newest_first(ops: list[Operation]) -> list[str]:
    """Return the ids in listing order: newest first, ties by id."""
    ordered = sorted(ops, key=lambda op: op.operation_id)
    return [op.operation_id for op in sorted(ordered, key=lambda op: op.created_at, reverse=True)]


async def every_page(
    rt: Runtime, filters: ListingFilters, *, limit: int
) -> tuple[list[str], list[int]]:
    """Walk a listing by cursor to its end; return the ids and each page's length."""
    ids: list[str] = []
    sizes: list[int] = []
    after: Position | None = None
    while True:
        async with rt.session(read_only=True) as session:
            rows = await list_operations(session, **filters, after=after, limit=limit)
        ids += [r.id for r in rows]
        sizes.append(len(rows))
        if len(rows) < limit:
            return ids, sizes
        last = (rows[-1].created_at, rows[-1].id)
        after = cursor_position(listing_cursor(last, **filters), **filters)


FILTERS: dict[str, ListingFilters] = {
    "everything": ListingFilters(statuses=(), types=(), since=None),
    "one type": ListingFilters(statuses=(), types=[MAINTENANCE], since=None),
    "two types": ListingFilters(statuses=(), types=[MONITORING, MAINTENANCE], since=None),
    "one state": ListingFilters(statuses=[SCHEDULED], types=(), since=None),
    "two states": ListingFilters(statuses=[COMPLETED, SCHEDULED], types=(), since=None),
    "state and type": ListingFilters(statuses=[SCHEDULED], types=[MAINTENANCE], since=None),
}


@pytest.mark.parametrize("name", FILTERS)
async def test_cursor_pages_return_each_operation_once_in_order(
    runtime: Runtime, clock: FakeClock, name: str
) -> None:
    made = await history(runtime, clock)
    filters = FILTERS[name]
    wanted = [
        op
        for op in made
        if (not filters["statuses"] or op.status in filters["statuses"])
        and (not filters["types"] or op.request.operation_type in filters["types"])
    ]
    for limit in (1, 2, 4):
        ids, sizes = await every_page(runtime, filters, limit=limit)
        assert ids == newest_first(wanted), limit
        assert all(size == limit for size in sizes[:-1]), sizes


async def test_since_keeps_what_was_created_from_then(runtime: Runtime, clock: FakeClock) -> None:
    made = await history(runtime, clock)
    since = made[3].created_at
    filters = ListingFilters(statuses=(), types=[MAINTENANCE, MONITORING], since=since)
    ids, _ = await every_page(runtime, filters, limit=2)
    assert ids == newest_first([op for op in made if op.created_at >= since])
    assert {"op-03", "op-04", "op-05"} <= set(ids)
    assert "op-02" not in ids


async def test_a_cursor_page_holds_while_operations_are_added(
    runtime: Runtime, clock: FakeClock
) -> None:
    made = await history(runtime, clock)
    everything = ListingFilters(statuses=(), types=(), since=None)
    async with runtime.session(read_only=True) as session:
        first = await list_operations(session, limit=4)
    last = (first[-1].created_at, first[-1].id)
    position = cursor_position(listing_cursor(last, **everything), **everything)
    clock.advance(1)
    await submit(runtime, request(operation_id="op-late"))
    async with runtime.session(read_only=True) as session:
        by_cursor = await list_operations(session, after=position, limit=4)
        by_offset = await list_operations(session, offset=4, limit=4)
    expected = newest_first(made)
    assert [r.id for r in first] == expected[:4]
    assert [r.id for r in by_cursor] == expected[4:8]
    # The newcomer pushed everything down one: offset 4 shows the first page's last again.
    assert [r.id for r in by_offset] == expected[3:7]


def test_a_cursor_is_opaque_and_bound_to_its_filters() -> None:
    last = (FakeClock().now(), "op-1")
    mine = ListingFilters(statuses=[SCHEDULED, COMPLETED], types=[MAINTENANCE], since=None)
    token = listing_cursor(last, **mine)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    same = ListingFilters(
        statuses=[COMPLETED, SCHEDULED, COMPLETED], types=[MAINTENANCE], since=None
    )
    assert cursor_position(token, **same) == last

    other = ListingFilters(statuses=[SCHEDULED], types=[MAINTENANCE], since=None)
    with pytest.raises(InvalidRequest, match="other filters") as refused:
        cursor_position(token, **other)
    assert refused.value.field == "cursor"
    later = ListingFilters(**(mine | {"since": last[0] - timedelta(days=1)}))
    with pytest.raises(InvalidRequest, match="other filters"):
        cursor_position(token, **later)


def _edited(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-10] ^= 0x01  # a digit of the position, say
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "make",
    [
        lambda good: "garbage!",
        lambda good: "",
        lambda good: good[:-4],
        lambda good: good + "AAAA",
        _edited,
        lambda good: "é" + good,
        lambda good: "A" * 5000,
        lambda good: base64.urlsafe_b64encode(b"\0" * 8 + b'[1,0,"op","x"]').decode(),
    ],
    ids=["garbage", "empty", "cut", "lengthened", "edited", "non-ascii", "huge", "forged"],
)
def test_a_damaged_cursor_is_refused_by_name(make: Any) -> None:
    token = listing_cursor((FakeClock().now(), "op-1"), statuses=(), types=())
    with pytest.raises(InvalidRequest, match="damaged or edited") as refused:
        cursor_position(make(token))
    assert refused.value.field == "cursor"


@contextmanager
def statements(rt: Runtime) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SELECT statements the engine sends, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    event.listen(rt.engine.sync_engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", grab)


SHAPES: dict[str, tuple[dict[str, Any], bool]] = {
    # name: (list_operations arguments besides `after`, whether it merges several walks)
    "no filter": ({}, False),
    "one status": ({"statuses": [SCHEDULED]}, False),
    "one type": ({"types": [MAINTENANCE]}, False),
    "no filter, cursor": ({"after": True}, False),
    "status, cursor": ({"statuses": [SCHEDULED], "after": True}, False),
    "type, cursor": ({"types": [MAINTENANCE], "after": True}, False),
    "type, since, cursor": ({"types": [MAINTENANCE], "since": True, "after": True}, False),
    "statuses, cursor": ({"statuses": [SCHEDULED, COMPLETED], "after": True}, True),
    "types, cursor": ({"types": [MAINTENANCE, MONITORING], "after": True}, True),
}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("shape", SHAPES)
async def test_every_listing_shape_walks_an_index(
    runtime: Runtime, clock: FakeClock, shape: str
) -> None:
    made = await history(runtime, clock)
    arguments, merged = SHAPES[shape]
    arguments = dict(arguments)
    if arguments.pop("after", False):
        arguments["after"] = (made[6].created_at, made[6].operation_id)
    if arguments.pop("since", False):
        arguments["since"] = made[1].created_at
    with statements(runtime) as seen:
        async with runtime.session(read_only=True) as session:
            assert await list_operations(session, **arguments, limit=2)
    plans = []
    async with runtime.engine.connect() as conn:
        sqlite = (await conn.get_raw_connection()).driver_connection
        assert sqlite is not None
        for statement, params in seen:
            cursor = await sqlite.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            plans.append([str(row[-1]) for row in await cursor.fetchall()])
    walks = [line for plan in plans for line in plan if "operations" in line.split()[:2]]
    assert walks, plans
    for line in walks:
        # Every read of the table goes through an index: a SEARCH, or a SCAN of the
        # (created_at) index that stops at the limit; never a SCAN of the table itself.
        assert line.startswith("SEARCH operations USING") or line == (
            "SCAN operations USING INDEX ix_operations_created_at"
        ), plans
    if arguments.get("after"):
        assert all("created_at<" in line for line in walks if "ix_operations_" in line), plans
    main = plans[0]
    # Ties on created_at are put in id order (the "right part"); only a merge of several
    # walks sorts as a whole, and then only the few rows each walk gave.
    assert ("USE TEMP B-TREE FOR ORDER BY" in main) == merged, main
