"""Reading links back for a walk: a stored timestamp gives exactly the text its hash covers."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.ledger import append_links, hashed_at, iterate_link_batches, lock_head

zones = (
    st.none()
    | st.just(UTC)
    | st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
)
instants = st.datetimes(
    min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones
) | st.datetimes(timezones=st.just(UTC)).map(lambda at: at.replace(microsecond=0))
"""Any timestamp a writer might record, whole seconds (no fraction printed) included."""


async def written_and_read(rt: Runtime, instants: list[datetime]) -> list[str | None]:
    """Append one link per instant through storage; return the text the walk hashes."""
    async with rt.session() as session:
        seq, prev = await lock_head(session)
        links = [
            {
                "seq": seq + n,
                "at": at,
                "actor": "crown",
                "event": "note",
                "operation_id": None,
                "from_status": None,
                "to_status": None,
                "details": {},
                "prev_hash": prev,
                "hash": prev,
            }
            for n, at in enumerate(instants, start=1)
        ]
        await append_links(session, links)
        await session.commit()
    read: list[str | None] = []
    async with (
        rt.session(read_only=True) as session,
        aclosing(iterate_link_batches(session, batch=7)) as batches,
    ):
        async for batch in batches:
            read += [link[10] or hashed_at(link[1]) for link in batch]
    return read[seq:]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(instants, min_size=1, max_size=30))
def test_the_text_is_what_the_datetime_read_back_prints(
    settings: Settings, instants: list[datetime]
) -> None:
    """SQLite renders it in the query; PostgreSQL hands back a datetime that hashed_at prints."""

    async def round_trip() -> list[str | None]:
        rt = await Runtime.open(settings, migrate=False)
        try:
            return await written_and_read(rt, instants)
        finally:
            await rt.close()

    # What the writer hashed: entry_body's at.isoformat() of the value stored and read back.
    hashed = [
        (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()
        for at in instants
    ]
    assert asyncio.run(round_trip()) == hashed


def test_other_shapes_are_read_as_sqlalchemy_reads_them() -> None:
    assert hashed_at("2026-01-02 03:04:05") == "2026-01-02T03:04:05+00:00"
    assert hashed_at("2026-01-02 03:04:05.000000") == "2026-01-02T03:04:05+00:00"
    assert hashed_at("2026-01-02T05:04:05.5+02:00") == "2026-01-02T03:04:05.500000+00:00"


def test_what_is_no_timestamp_has_no_text() -> None:
    assert hashed_at("yesterday") is None
    assert hashed_at(20260102) is None  # type: ignore[arg-type]  # SQLite keeps any type
