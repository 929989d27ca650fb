"""Canonical JSON stays byte for byte what every existing ledger was hashed with.

The reference is the encoder the chain was written with: ``json.dumps`` with sorted keys,
no spaces, non-ASCII as is and ``default=str``. The stored-link hasher is held to the same
bytes over what storage hands back (the details as SQLAlchemy's ``json.dumps`` stored them),
including the floats, wide ints and strings where orjson and json disagree.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fixtures.json_values import (
    EDGE_FLOATS,
    EDGE_INTS,
    EDGE_TEXT,
    json_values,
    reference,
    reference_link_hash,
    scalars,
    texts,
)
from triadops.domain.chain import StoredLinkHasher, canonical_json, link_hash, plan_hash

datetimes = st.datetimes(
    timezones=st.none() | st.just(UTC) | st.builds(timezone, st.sampled_from([timedelta(hours=2)]))
)
with_python_values = st.recursive(
    scalars | datetimes | st.dates(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=20,
)
"""What callers hand canonical_json before storage: datetimes and dates go through str()."""


@given(with_python_values)
def test_canonical_json_is_the_reference_encoding(value: Any) -> None:
    assert canonical_json(value) == reference(value)


def test_datetimes_are_encoded_as_str_as_before() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert canonical_json({"at": at, "day": date(2026, 1, 2)}) == (
        '{"at":"2026-01-02 03:04:05.000006+00:00","day":"2026-01-02"}'
    )
    assert plan_hash({"at": at}) == hashlib.sha256(reference({"at": at}).encode()).hexdigest()


def body(details: Any, *, seq: int = 7, actor: str = "executive:w1") -> dict[str, Any]:
    return {
        "seq": seq,
        "at": "2026-01-02T03:04:05.000006+00:00",
        "actor": actor,
        "event": "step_succeeded",
        "operation_id": "op-1",
        "from_status": None,
        "to_status": "running",
        "details": details,
    }


def stored_digest(prev: str, written: dict[str, Any]) -> str | None:
    """What a walk computes: the details as storage stored them, decoded once, hashed."""
    hasher = StoredLinkHasher()
    stored = json.dumps(written["details"])  # SQLAlchemy's JSON serializer on both backends
    return hasher.digest(prev, {**written, "details": hasher.decode(stored)})


@given(json_values, texts)
def test_a_stored_link_hashes_as_it_was_written(details: Any, actor: str) -> None:
    written = body(details, actor=actor)
    prev = "ab" * 32
    assert stored_digest(prev, written) == reference_link_hash(prev, written)
    assert link_hash(prev, written) == reference_link_hash(prev, written)


@pytest.mark.parametrize(
    "details",
    [
        {"f": EDGE_FLOATS},
        {"i": EDGE_INTS},
        {"s": EDGE_TEXT, **{t: t for t in EDGE_TEXT}},
        {"deep": [{"b": [1, {"z": 1.5, "a": None}], "a": {}}, [], [[]]]},
        [1.0, "list at the top"],
        "a string at the top",
        1e16,
        None,
    ],
)
def test_edge_cases_where_orjson_and_json_differ(details: Any) -> None:
    written = body(details)
    prev = "cd" * 32
    assert stored_digest(prev, written) == reference_link_hash(prev, written)


def test_orjson_alone_would_not_do() -> None:
    """The differences the hasher steps around, so a future orjson fixing them is noticed."""
    assert orjson.dumps(1e-7) == b"1e-7" != reference(1e-7).encode()
    assert orjson.dumps(1e-5) == b"0.00001" != reference(1e-5).encode()
    assert orjson.dumps(math.nan) == b"null"
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(2**64)


@given(json_values)
def test_decode_is_json_loads(value: Any) -> None:
    text = json.dumps(value)
    decoded = StoredLinkHasher().decode(text)
    assert reference(decoded) == reference(json.loads(text))
    assert reference(StoredLinkHasher().decode(f" \n{text}\t ")) == reference(decoded)


def test_decode_refuses_what_json_loads_refuses() -> None:
    hasher = StoredLinkHasher()
    for text in ["", "{", '{"a": 1} x', "[1,]"]:
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)
        with pytest.raises(json.JSONDecodeError):
            hasher.decode(text)


def test_a_column_holding_a_float_is_hashed_by_json() -> None:
    """SQLite keeps any type in any column: a forged float is hashed exactly as json would."""
    written = {**body({}), "actor": 1e-7}
    assert StoredLinkHasher.digest("0" * 64, written) == reference_link_hash("0" * 64, written)


def test_a_lone_surrogate_has_no_digest() -> None:
    """No writer could hash it (UTF-8 cannot encode it), so no stored hash can match it."""
    hasher = StoredLinkHasher()
    assert hasher.digest("0" * 64, body(hasher.decode('{"x": "\\ud800"}'))) is None
