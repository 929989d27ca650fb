"""GET /operations by filter and by cursor: pages that hold, and cursors that fit their query."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime

Params = list[tuple[str, Any]]


async def ids(api: Api, params: Params) -> list[str]:
    response = await api.get("/operations", params=params)
    assert response.status_code == 200, response.text
    return [item["operation_id"] for item in response.json()["items"]]


async def walk(api: Api, params: Params, *, between: Any = None) -> list[str]:
    """Follow next_cursor to the end, calling `between` after each page."""
    seen: list[str] = []
    cursor = None
    while True:
        response = await api.get(
            "/operations", params=params + ([("cursor", cursor)] * bool(cursor))
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["operation_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        assert (cursor is not None) == (len(page["items"]) == page["limit"])
        if cursor is None:
            return seen
        if between is not None:
            await between()


async def test_cursor_pages_hold_while_operations_arrive_and_offset_pages_do_not(
    api: Api,
) -> None:
    made = [
        (await api.submit(noop_request(operation_id=f"op-{n}")))["operation_id"] for n in range(7)
    ]
    newest_first = list(reversed(made))
    arrived: list[str] = []

    async def another() -> None:
        arrived.append(
            (await api.submit(noop_request(operation_id=f"op-new-{len(arrived)}")))["operation_id"]
        )

    assert await walk(api, [("limit", 2)], between=another) == newest_first
    assert len(arrived) == 3

    # The same walk by offset, with arrivals between pages, shows some operations twice.
    by_offset: list[str] = []
    for offset in range(0, 12, 3):
        by_offset += await ids(api, [("limit", 3), ("offset", offset)])
        await another()
    assert len(by_offset) != len(set(by_offset))


async def test_filters_combine(api: Api, rt: Runtime) -> None:
    old_fix = await api.submit(noop_request(operation_id="old-fix"))
    old_watch = await api.submit(
        noop_request(operation_id="old-watch", operation_type="monitoring")
    )
    await drive(rt)
    new_fix = await api.submit(noop_request(operation_id="new-fix"))
    new_watch = await api.submit(
        noop_request(operation_id="new-watch", operation_type="monitoring")
    )
    assert [old_fix["status"], new_watch["status"]] == ["scheduled", "scheduled"]
    since = new_fix["created_at"]

    watched = [("operation_type", "monitoring")]
    assert await ids(api, watched) == ["new-watch", "old-watch"]
    assert await ids(api, [*watched, ("status", "completed")]) == ["old-watch"]
    assert await ids(api, [*watched, ("since", since)]) == ["new-watch"]
    both = [("operation_type", "maintenance"), ("operation_type", "monitoring")]
    assert await ids(api, [*both, ("since", since)]) == ["new-watch", "new-fix"]
    states = [("status", "completed"), ("status", "scheduled")]
    assert await walk(api, [*states, *watched, ("limit", 1)]) == ["new-watch", "old-watch"]
    assert await walk(api, [*both, ("limit", 1)]) == [
        new_watch["operation_id"],
        new_fix["operation_id"],
        old_watch["operation_id"],
        old_fix["operation_id"],
    ]
    # The same instant in another zone is the same filter, and so takes the same cursor.
    east = datetime.fromisoformat(since).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert east != since
    first = (await api.get("/operations", params={"since": since, "limit": 1})).json()
    after = [("since", east), ("limit", 1), ("cursor", first["next_cursor"])]
    assert await ids(api, after) == ["new-fix"]


async def test_the_last_page_has_no_next_cursor(api: Api) -> None:
    await api.submit(noop_request())
    page = (await api.get("/operations", params={"limit": 2})).json()
    assert page["next_cursor"] is None
    assert (await api.get("/operations")).json()["next_cursor"] is None


def _tampered(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-12] ^= 0x02
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


async def test_a_bad_cursor_is_422_naming_the_cursor(api: Api) -> None:
    for n in range(3):
        await api.submit(noop_request(operation_id=f"op-{n}"))
    scheduled = [("status", "scheduled"), ("limit", 1)]
    page = (await api.get("/operations", params=scheduled)).json()
    token = page["next_cursor"]
    assert await ids(api, [*scheduled, ("cursor", token)]) == ["op-1"]

    refused: dict[str, Params] = {
        "garbage": [*scheduled, ("cursor", "not a cursor")],
        "tampered": [*scheduled, ("cursor", _tampered(token))],
        "cut": [*scheduled, ("cursor", token[:-6])],
        "other status": [("status", "completed"), ("limit", 1), ("cursor", token)],
        "no status": [("limit", 1), ("cursor", token)],
        "a type added": [*scheduled, ("operation_type", "maintenance"), ("cursor", token)],
        "since added": [*scheduled, ("since", "2000-01-01T00:00:00Z"), ("cursor", token)],
        "with offset": [*scheduled, ("offset", 1), ("cursor", token)],
        "too long": [*scheduled, ("cursor", "A" * 401)],
    }
    for case, params in refused.items():
        response = await api.get("/operations", params=params)
        assert response.status_code == 422, (case, response.text)
        problem = response.json()
        assert problem["field"] == "cursor", (case, problem)
        assert problem["errors"][0]["loc"] == ["query", "cursor"], (case, problem)
        assert "cursor" in problem["detail"], (case, problem)
    # The limit is no filter: a cursor continues a listing with pages of another size.
    assert await ids(api, [("status", "scheduled"), ("limit", 5), ("cursor", token)]) == [
        "op-1",
        "op-0",
    ]


@pytest.mark.parametrize(
    ("since", "why"),
    [
        ("2026-01-01T00:00:00", "timezone"),
        ("yesterday", "datetime"),
        ("0001-01-01T00:00:00+01:00", "out of range"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
    ],
)
async def test_since_needs_a_zone_and_a_time_in_range(api: Api, since: str, why: str) -> None:
    response = await api.get("/operations", params={"since": since})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "since"
    assert why in problem["errors"][0]["msg"].lower()


async def test_the_extremes_of_since_answer(api: Api) -> None:
    await api.submit(noop_request(operation_id="op-now"))
    assert await ids(api, [("since", "0001-01-01T00:00:00Z")]) == ["op-now"]
    assert await ids(api, [("since", "9999-12-31T23:59:59Z")]) == []
