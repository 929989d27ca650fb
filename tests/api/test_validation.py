from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.api import Api, high_risk_request, noop_request


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


INVALID: dict[str, tuple[dict[str, Any], str | None]] = {
    "missing operation_type": (
        {k: v for k, v in noop_request().items() if k != "operation_type"},
        "operation_type",
    ),
    "bad enum": (noop_request(operation_type="demolition"), "operation_type"),
    "procedure and steps": (noop_request(procedure="database_optimization"), None),
    "neither procedure nor steps, and no planner": (noop_request(steps=[]), "steps"),
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
    "NUL in description": (noop_request(description="drill\x00"), "description"),
    "NUL in a system": (noop_request(affected_systems=["api\x00"]), "affected_systems[0]"),
    "NUL in a param": (
        noop_request(steps=[{"action": "noop", "params": {"marker": "a\x00b"}}]),
        "steps[0].params",
    ),
    "NUL in a param's key": (
        noop_request(steps=[{"action": "noop", "params": {"a\x00": 1}}]),
        "steps[0].params",
    ),
    "far-future time": (noop_request(scheduled_time="9999-12-31T23:59:59-23:59"), "scheduled_time"),
    "ancient time": (noop_request(scheduled_time="0001-01-01T00:00:00+23:59"), "scheduled_time"),
    "too deep params": (
        noop_request(steps=[{"action": "noop", "params": {"a": _nested(20)}}]),
        "steps[0].params",
    ),
}

RAW_BODIES: dict[str, tuple[bytes, str]] = {
    "Infinity in a param": (
        b'{"operation_type": "maintenance", "constitutional_authority": "executive", '
        b'"description": "d", "steps": [{"action": "noop", "params": {"x": Infinity}}]}',
        "steps[0].params",
    ),
    "NaN in a param": (
        b'{"operation_type": "maintenance", "constitutional_authority": "executive", '
        b'"description": "d", "steps": [{"action": "noop", "params": {"sleep_s": NaN}}]}',
        "steps[0].params",
    ),
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


@pytest.mark.parametrize("body,field", RAW_BODIES.values(), ids=RAW_BODIES.keys())
async def test_non_finite_numbers_are_422_and_store_nothing(
    api: Api, body: bytes, field: str
) -> None:
    headers = {**api.auth("alice"), "content-type": "application/json"}
    response = await api.client.post("/operations", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert (await api.get("/operations")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/operations?offset=9223372036854775808", "offset"),
        ("/operations?offset=9223372036854775807", "offset"),
        ("/operations/op%00x", "operation_id"),
        ("/audit/log?operation_id=op%00x", "operation_id"),
    ],
)
async def test_unbounded_query_and_path_values_are_422(api: Api, path: str, field: str) -> None:
    response = await api.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


async def test_nul_in_a_reason_is_422(api: Api) -> None:
    op = await api.submit(high_risk_request())
    path = f"/operations/{op['operation_id']}"
    response = await api.post(f"{path}/reject", as_="bob", json={"reason": "no\x00"})
    assert response.status_code == 422
    assert response.json()["field"] == "reason"
    assert await api.status(op["operation_id"]) == "awaiting_approval"


async def test_an_unknown_procedure_is_422_with_the_field(api: Api) -> None:
    body = {k: v for k, v in noop_request(procedure="nope").items() if k != "steps"}
    response = await api.post("/operations", as_="alice", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "procedure"
    assert "unknown procedure 'nope'" in response.json()["detail"]
