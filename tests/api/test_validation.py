from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.api import Api, noop_request

INVALID: dict[str, tuple[dict[str, Any], str | None]] = {
    "missing operation_type": (
        {k: v for k, v in noop_request().items() if k != "operation_type"},
        "operation_type",
    ),
    "bad enum": (noop_request(operation_type="demolition"), "operation_type"),
    "procedure and steps": (noop_request(procedure="database_optimization"), None),
    "neither procedure nor steps": (noop_request(steps=[]), None),
    "unknown field": (noop_request(colour="red"), "colour"),
    "unknown action": (noop_request(steps=[{"action": "rm -rf /"}]), "steps[0].action"),
    "params not an object": (
        noop_request(steps=[{"action": "noop", "params": "fast"}]),
        "steps[0].params",
    ),
    "bad params type": (
        noop_request(steps=[{"action": "noop", "params": {"sleep_s": "long"}}]),
        "steps[0].params.sleep_s",
    ),
    "unknown param": (
        noop_request(steps=[{"action": "noop", "params": {"speed": 3}}]),
        "steps[0].params.speed",
    ),
    "unknown check": (noop_request(validation_criteria=["vibes"]), "validation_criteria[0]"),
    "bad operation id": (noop_request(operation_id="../etc"), "operation_id"),
    "empty requester": (noop_request(requested_by=""), "requested_by"),
}


@pytest.mark.parametrize("body,field", INVALID.values(), ids=INVALID.keys())
async def test_invalid_bodies_are_422_and_store_nothing(
    api: Api, body: dict[str, Any], field: str | None
) -> None:
    ledger_before = (await api.get("/audit/log")).json()["items"]
    response = await api.post("/operations", as_="alice", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"] == "Invalid request"
    assert problem["field"] == field
    assert problem["detail"]
    if "errors" in problem:
        assert all({"loc", "msg"} <= set(e) for e in problem["errors"])
    assert (await api.get("/operations")).json()["items"] == []
    assert (await api.get("/audit/log")).json()["items"] == ledger_before


async def test_every_field_error_is_listed(api: Api) -> None:
    body = {"operation_type": "demolition", "constitutional_authority": "mob"}
    response = await api.post("/operations", as_="alice", json=body)
    assert response.status_code == 422
    locs = {tuple(e["loc"]) for e in response.json()["errors"]}
    assert {
        ("body", "operation_type"),
        ("body", "constitutional_authority"),
        ("body", "description"),
    } <= locs


async def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    response = await api.post("/operations", as_="alice", content=b"{not json")
    assert response.status_code == 422
    assert response.json()["errors"]
