"""Reading links back for a walk: a stored timestamp gives exactly the text its hash covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from triadops.storage.ledger import hashed_at
from triadops.storage.tables import LedgerRow

SQLITE = sqlite.dialect()
zones = (
    st.none()
    | st.just(UTC)
    | st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23)))
)


def stored_on_sqlite(at: datetime) -> str:
    """The text SQLAlchemy writes for `at` into the ledger's timestamp column on SQLite."""
    column = LedgerRow.__table__.c.at.type.dialect_impl(SQLITE)
    bind = column.bind_processor(SQLITE)
    assert bind is not None
    text = bind(at)
    assert isinstance(text, str)
    return text


@given(st.datetimes(timezones=zones))
def test_the_text_is_what_the_datetime_read_back_prints(at: datetime) -> None:
    written = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    assert hashed_at(stored_on_sqlite(at)) == written.isoformat()
    assert hashed_at(written) == written.isoformat()  # PostgreSQL hands back a datetime


def test_a_whole_second_prints_no_fraction() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert stored_on_sqlite(at) == "2026-01-02 03:04:05.000000"
    assert hashed_at(stored_on_sqlite(at)) == "2026-01-02T03:04:05+00:00"


def test_other_shapes_are_read_as_sqlalchemy_reads_them() -> None:
    assert hashed_at("2026-01-02 03:04:05") == "2026-01-02T03:04:05+00:00"
    assert hashed_at("2026-01-02T05:04:05.5+02:00") == "2026-01-02T03:04:05.500000+00:00"


def test_what_is_no_timestamp_has_no_text() -> None:
    assert hashed_at("yesterday") is None
    assert hashed_at(20260102) is None  # type: ignore[arg-type]  # SQLite keeps any type
