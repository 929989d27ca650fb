"""The console in process (the API's app over ASGI): its pages, its posts and their refusals.

The browser tests (test_console.py) show what a real Chromium does; these show the server's
answers, on both databases, in the same process as the coverage count. The client's host is
``test`` over plain http: the cookie's fallback name (no ``__Host-``, no Secure) is used here.
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from tests.fixtures.api import Api, high_risk_request, noop_request

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
NEXT = re.compile(r'class="next" href="/console(/operations\?[^"]+)"')
HASH = re.compile(r'name="plan_hash" value="([0-9a-f]{64})"')


async def sign_in(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    """Sign in with `token`; return the Cookie header of its session."""
    answer = await client.post("/console/signin", data={"token": token})
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("triad_console=") and "secure" not in cookie.lower()
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    client.cookies.clear()
    return {"cookie": cookie.split(";", 1)[0]}


async def page(client: httpx.AsyncClient, cookie: dict[str, str], path: str) -> str:
    answer = await client.get(f"/console{path}", headers=cookie)
    assert answer.status_code == 200, (path, answer.text)
    assert "script-src 'nonce-" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    return answer.text


def csrf(text: str) -> str:
    found = CSRF.search(text)
    assert found is not None
    return found.group(1)


async def test_a_legislator_approves_from_the_page(api: Api, client: httpx.AsyncClient) -> None:
    op = await api.submit({**high_risk_request(), "description": "<i>tilt</i>"}, as_="alice")
    bob = await sign_in(client, api.tokens["bob"])
    overview = await page(client, bob, "/")
    assert op["operation_id"] in overview and "&lt;i&gt;tilt&lt;/i&gt;" in overview
    assert "<i>tilt</i>" not in overview
    listing = await page(client, bob, "/operations?status=awaiting_approval")
    assert op["operation_id"] in listing
    detail = await page(client, bob, f"/operations/{op['operation_id']}")
    found = HASH.search(detail)
    assert found is not None and found.group(1) == op["plan_hash"]
    form = {"plan_hash": op["plan_hash"], "authority": "legislative", "csrf": csrf(detail)}
    answer = await client.post(
        f"/console/operations/{op['operation_id']}/approve", data=form, headers=bob
    )
    assert answer.status_code == 303, answer.text
    read = (await api.get(f"/operations/{op['operation_id']}")).json()
    assert [(a["approver"], a["plan_hash"]) for a in read["approvals"]] == [
        ("bob", op["plan_hash"])
    ]


async def test_the_page_names_the_client_beside_the_requester(
    api: Api, client: httpx.AsyncClient
) -> None:
    op = await api.submit({**noop_request(), "via": "mcp:<i>tilt</i>"}, as_="alice")
    viewer = await sign_in(client, api.tokens["viewer"])
    detail = await page(client, viewer, f"/operations/{op['operation_id']}")
    assert '<dd id="requested-by">alice</dd>' in detail
    assert '<dd id="via">mcp:&lt;i&gt;tilt&lt;/i&gt;</dd>' in detail
    plain = await api.submit(noop_request(), as_="alice")
    assert 'id="via"' not in await page(client, viewer, f"/operations/{plain['operation_id']}")


async def test_the_requester_may_not_approve_but_may_cancel(
    api: Api, client: httpx.AsyncClient
) -> None:
    op = await api.submit(high_risk_request(), as_="alice")
    alice = await sign_in(client, api.tokens["alice"])
    path = f"/operations/{op['operation_id']}"
    detail = await page(client, alice, path)
    assert "/approve" not in detail and "/cancel" in detail
    token = csrf(detail)
    approve = {"plan_hash": op["plan_hash"], "csrf": token}
    refused = await client.post(f"/console{path}/approve", data=approve, headers=alice)
    assert refused.status_code == 403 and "alice requested" in refused.text
    cancelled = await client.post(f"/console{path}/cancel", data={"csrf": token}, headers=alice)
    assert cancelled.status_code == 303
    assert await api.status(op["operation_id"]) == "cancelled"


async def test_a_critical_approval_needs_the_same_principals_token(
    api: Api, client: httpx.AsyncClient
) -> None:
    body = high_risk_request()
    body.pop("rollback_plan")
    op = await api.submit(body, as_="alice")
    bob = await sign_in(client, api.tokens["bob"])
    path = f"/console/operations/{op['operation_id']}"
    detail = await page(client, bob, path.removeprefix("/console"))
    assert 'name="token" type="password"' in detail
    form = {"plan_hash": op["plan_hash"], "csrf": csrf(detail)}
    for token, reason in (
        (None, "asks for your token again"),
        (api.tokens["dave"], "not the signed-in principal"),
        ("triad_nonsense", "invalid or revoked"),
    ):
        fields = form if token is None else {**form, "token": token}
        refused = await client.post(f"{path}/approve", data=fields, headers=bob)
        assert refused.status_code == 403 and reason in refused.text
    assert (await api.get(f"/operations/{op['operation_id']}")).json()["approvals"] == []
    agreed = {**form, "token": api.tokens["bob"]}
    assert (await client.post(f"{path}/approve", data=agreed, headers=bob)).status_code == 303
    approvals = (await api.get(f"/operations/{op['operation_id']}")).json()["approvals"]
    assert [a["approver"] for a in approvals] == ["bob"]


async def test_alerts_are_acknowledged_silenced_and_unsilenced(
    api: Api, client: httpx.AsyncClient
) -> None:
    raised = await api.post(
        "/alerts", as_="eve", json={"labels": {"alertname": "QueueBacklog", "queue": "mail"}}
    )
    assert raised.status_code in (200, 201, 202), raised.text
    eve = await sign_in(client, api.tokens["eve"])
    text = await page(client, eve, "/alerts?state=firing")
    assert "QueueBacklog" in text
    alert_id = (await api.get("/alerts")).json()["items"][0]["id"]
    token = csrf(text)
    ack = await client.post(f"/console/alerts/{alert_id}/ack", data={"csrf": token}, headers=eve)
    assert ack.status_code == 303
    silence = {"csrf": token, "hours": "1.5", "comment": "draining"}
    muted = await client.post(f"/console/alerts/{alert_id}/silence", data=silence, headers=eve)
    assert muted.status_code == 303, muted.text
    (active,) = (await api.get("/silences")).json()["items"]
    assert active["created_by"] == "eve" and active["comment"] == "draining"
    too_long = {**silence, "hours": "100000"}
    refused = await client.post(f"/console/alerts/{alert_id}/silence", data=too_long, headers=eve)
    assert refused.status_code == 422
    expire = f"/console/silences/{active['id']}/expire"
    assert (await client.post(expire, data={"csrf": token}, headers=eve)).status_code == 303
    assert (await api.get("/silences")).json()["items"] == []


async def test_verify_now_runs_one_replay_at_a_time(
    app: FastAPI, api: Api, client: httpx.AsyncClient
) -> None:
    """A second "Verify now" while one runs is refused (409), not queued behind it."""
    console = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/console")
    vic = await sign_in(client, api.tokens["viewer"])
    form = {"csrf": csrf(await page(client, vic, "/audit"))}
    first = await client.post("/console/audit/verify", data=form, headers=vic)
    assert first.status_code == 200 and "Intact" in first.text  # made the lock, released it
    async with console.state.verifying:  # as a replay still running holds it
        second = await client.post("/console/audit/verify", data=form, headers=vic)
    assert second.status_code == 409 and "a verify is running already" in second.text
    third = await client.post("/console/audit/verify", data=form, headers=vic)
    assert third.status_code == 200 and "Intact" in third.text


async def test_a_viewer_reads_every_page_and_changes_nothing(
    api: Api, client: httpx.AsyncClient
) -> None:
    op = await api.submit(noop_request(), as_="alice")
    viewer = await sign_in(client, api.tokens["viewer"])
    for path in ("/", "/operations", f"/operations/{op['operation_id']}", "/alerts"):
        text = await page(client, viewer, path)
        assert 'method="post"' not in text.split("</header>", 1)[1], path
    for path in ("/backups", "/audit"):
        await page(client, viewer, path)
    calendar = await page(client, viewer, "/maintenance")
    assert "database_optimization" in calendar and "window" in calendar
    token = csrf(await page(client, viewer, "/"))  # the sign-out form's
    cancel = await client.post(
        f"/console/operations/{op['operation_id']}/cancel", data={"csrf": token}, headers=viewer
    )
    assert cancel.status_code == 403


async def test_operations_are_filtered_by_type_and_the_next_page_keeps_the_filters(
    api: Api, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("triadops.web.pages.PAGE", 2)
    kept = [await api.submit(noop_request(), as_="alice") for _ in range(3)]
    other = await api.submit(noop_request(operation_type="deployment"), as_="alice")
    bob = await sign_in(client, api.tokens["bob"])
    first = await page(client, bob, "/operations?type=maintenance")
    assert other["operation_id"] not in first
    assert kept[2]["operation_id"] in first and kept[1]["operation_id"] in first
    found = NEXT.search(first)
    assert found is not None and "type=maintenance&amp;cursor=" in found.group(0)
    second = await page(client, bob, found.group(1).replace("&amp;", "&"))
    assert kept[0]["operation_id"] in second and other["operation_id"] not in second
    # A cursor made under one filter is refused under another, not read as a position.
    cursor = found.group(1).split("cursor=")[1]
    answer = await client.get(f"/console/operations?type=deployment&cursor={cursor}", headers=bob)
    assert answer.status_code == 422 and "cursor" in answer.text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/operations?status=sideways", 422, "not an operation state"),
        ("/operations?type=sideways", 422, "not an operation type"),
        ("/operations?cursor=garbage", 422, "cursor"),
        ("/operations/op-nope", 404, "op-nope"),
        ("/alerts?state=loud", 422, "not an alert state"),
    ],
)
async def test_bad_addresses_get_a_page_that_says_why(
    api: Api, client: httpx.AsyncClient, path: str, status: int, says: str
) -> None:
    bob = await sign_in(client, api.tokens["bob"])
    answer = await client.get(f"/console{path}", headers=bob)
    assert answer.status_code == status and says in answer.text
    assert "content-security-policy" in answer.headers


async def test_without_a_session_pages_send_you_to_sign_in(client: httpx.AsyncClient) -> None:
    answer = await client.get("/console/operations")
    assert answer.status_code == 303 and answer.headers["location"].endswith("/console/signin")
    posted = await client.post("/console/operations/op-x/approve", data={"csrf": "x"})
    assert posted.status_code == 401
    signin = await client.get("/console/signin")
    assert signin.status_code == 200 and 'type="password"' in signin.text
    style = await client.get("/console/static/console.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
