from __future__ import annotations

import httpx
import pytest

from tests.fixtures.api import Api, noop_request
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import revoke_token
from triadops.runtime import Runtime


def assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthenticated"
    assert body["type"] == "urn:triadops:problem:unauthenticated"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer triad_not-a-token"}, {"Authorization": "Basic YTpi"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_no_valid_token_is_401(api: Api, headers: dict[str, str]) -> None:
    assert_unauthenticated(await api.client.get("/operations", headers=headers))
    assert_unauthenticated(
        await api.client.post("/operations", headers=headers, json=noop_request())
    )


async def test_a_revoked_token_stops_working(api: Api, rt: Runtime) -> None:
    assert (await api.get("/operations", as_="bob")).status_code == 200
    async with rt.session() as session:
        await revoke_token(session, name="bob", by="carol")
        await lifecycle.commit(session)
    assert_unauthenticated(await api.get("/operations", as_="bob"))


async def test_a_viewer_reads_but_cannot_submit(api: Api) -> None:
    assert (await api.get("/operations", as_="viewer")).status_code == 200
    response = await api.post("/operations", as_="viewer", json=noop_request())
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"
    assert (await api.get("/operations")).json()["items"] == []


async def test_submitting_for_someone_else_is_403(api: Api) -> None:
    response = await api.post("/operations", as_="alice", json=noop_request(requested_by="bob"))
    assert response.status_code == 403
    assert response.json()["field"] == "requested_by"


async def test_invoking_an_authority_not_held_is_403(api: Api) -> None:
    body = noop_request(constitutional_authority="executive")
    response = await api.post("/operations", as_="bob", json=body)
    assert response.status_code == 403
    assert response.json()["field"] == "constitutional_authority"
