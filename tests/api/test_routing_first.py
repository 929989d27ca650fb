"""A request is routed before its token is asked for: an unknown path is 404, its body unread."""

from __future__ import annotations

import httpx

from tests.api.test_limits import CountingBody, declared
from tests.fixtures.api import Api, noop_request


async def test_a_post_to_an_unknown_path_without_a_token_is_404_and_its_body_unread(
    client: httpx.AsyncClient,
) -> None:
    body = CountingBody(b"{" + b" " * 200_000 + b"}")
    response = await client.post("/operationz", content=body, headers=declared(body))
    assert response.status_code == 404, response.text
    assert body.pulled == 0


async def test_a_known_path_still_asks_for_the_token_before_the_body(
    client: httpx.AsyncClient,
) -> None:
    body = CountingBody(b"{" + b" " * 200_000 + b"}")
    response = await client.post("/operations", content=body, headers=declared(body))
    assert response.status_code == 401, response.text
    assert body.pulled == 0
    path_param = await client.post("/operations/op-x/cancel")
    assert path_param.status_code == 401


async def test_a_wrong_method_on_a_known_path_is_405_without_a_token(api: Api) -> None:
    assert (await api.client.delete("/operations")).status_code == 405
    assert (await api.post("/operations", as_="alice", json=noop_request())).status_code == 201
