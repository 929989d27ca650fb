"""Posts a page did not make: each refused with nothing changed (over real HTTP, no browser).

Doors of "a decision needs this session's page and the services' consent": no CSRF token,
another session's token, a viewer with its own token, another origin, a plan hash other
than the current plan's, a revoked token's session, a signed-out session, a wrong token.
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.web.conftest import Console
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import revoke_token
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.storage.records import load_operation

pytestmark = pytest.mark.slow
COOKIE = "__Host-triad_console"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


async def sign_in(client: httpx.AsyncClient, console: Console, name: str) -> dict[str, str]:
    """Sign in as `name`; return the Cookie header of its session."""
    answer = await client.post("/console/signin", data={"token": console.tokens[name]})
    assert answer.status_code == 303, answer.text
    set_cookie = answer.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Path=/", "SameSite=strict", "Secure"):
        assert flag.lower() in set_cookie.lower(), set_cookie
    return {"cookie": set_cookie.split(";", 1)[0]}


async def csrf_of(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> str:
    page = await client.get(path, headers=headers)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


async def approvals(console: Console, operation_id: str) -> tuple[OperationStatus, int]:
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            op = await load_operation(session, operation_id)
    finally:
        await rt.close()
    return op.status, len(op.approvals)


@pytest.fixture
async def client(console: Console) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as http:
        yield http


async def test_forged_posts_are_refused_and_change_nothing(
    console: Console, client: httpx.AsyncClient
) -> None:
    operation_id = console.operations["high"]
    page = f"/console/operations/{operation_id}"
    lena = await sign_in(client, console, "lena")
    other = await sign_in(client, console, "lena")  # a second session of the same person
    vic = await sign_in(client, console, "vic")
    detail = await client.get(page, headers=lena)
    plan_hash = re.search(r'name="plan_hash" value="([0-9a-f]{64})"', detail.text)
    assert plan_hash is not None
    form = {"plan_hash": plan_hash.group(1), "authority": "legislative"}
    forged = [
        (lena, form, {}),  # no CSRF token
        (lena, {**form, "csrf": await csrf_of(client, other, page)}, {}),  # another session's
        (lena, {**form, "csrf": "0" * 64}, {}),
        (vic, {**form, "csrf": await csrf_of(client, vic, page)}, {}),  # a viewer's own
        (
            lena,
            {**form, "csrf": await csrf_of(client, lena, page)},
            {"origin": "https://evil.example"},
        ),
    ]
    for cookie, fields, extra in forged:
        answer = await client.post(f"{page}/approve", data=fields, headers={**cookie, **extra})
        assert answer.status_code == 403, answer.text
        for door in ("reject", "cancel", "acknowledge"):
            refused = await client.post(
                f"{page}/{door}", data={**fields, "reason": "x"}, headers={**cookie, **extra}
            )
            assert refused.status_code == 403, (door, refused.text)
    anonymous = await client.post(f"{page}/approve", data={**form, "csrf": "0" * 64})
    assert anonymous.status_code == 401
    assert await approvals(console, operation_id) == (OperationStatus.AWAITING_APPROVAL, 0)


async def test_an_approval_of_another_plan_is_refused(
    console: Console, client: httpx.AsyncClient
) -> None:
    operation_id = console.operations["high"]
    page = f"/console/operations/{operation_id}"
    lena = await sign_in(client, console, "lena")
    fields = {"plan_hash": "a" * 64, "csrf": await csrf_of(client, lena, page)}
    answer = await client.post(f"{page}/approve", data=fields, headers=lena)
    assert answer.status_code == 409, answer.text
    assert "plan" in answer.text
    assert await approvals(console, operation_id) == (OperationStatus.AWAITING_APPROVAL, 0)


async def test_revoking_the_token_ends_its_sessions(
    console: Console, client: httpx.AsyncClient
) -> None:
    lena = await sign_in(client, console, "lena")
    assert (await client.get("/console/", headers=lena)).status_code == 200
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session() as session:
            await revoke_token(session, name="lena", by="test")
            await lifecycle.commit(session)
    finally:
        await rt.close()
    answer = await client.get("/console/", headers=lena)
    assert answer.status_code == 303 and answer.headers["location"].endswith("/console/signin")


async def test_signing_out_ends_the_session(console: Console, client: httpx.AsyncClient) -> None:
    lena = await sign_in(client, console, "lena")
    csrf = await csrf_of(client, lena, "/console/")
    refused = await client.post("/console/signout", data={}, headers=lena)
    assert refused.status_code == 403  # another page cannot sign you out
    out = await client.post("/console/signout", data={"csrf": csrf}, headers=lena)
    assert out.status_code == 303
    assert (await client.get("/console/", headers=lena)).status_code == 303


async def test_a_wrong_token_gets_no_session(console: Console, client: httpx.AsyncClient) -> None:
    answer = await client.post("/console/signin", data={"token": "triad_not-a-token"})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "invalid or revoked token" in answer.text
    assert "content-security-policy" in answer.headers
