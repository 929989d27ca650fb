"""The crown's freeze and unfreeze on the overview, in Chromium against a real server.

Doors of "only the crown freezes or unfreezes": the overview shows the forms to a crown
token only (everyone sees the state); a forged post by a viewer or a legislator with its
own session's CSRF token, or by the crown without one, is refused with 403 and changes
nothing; a blank reason is refused as the API refuses it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.web.conftest import Console, Watched, sign_in
from tests.web.test_forms import csrf_of
from tests.web.test_forms import sign_in as http_sign_in
from triadops.runtime import Runtime
from triadops.storage.operations import crown_state

pytestmark = pytest.mark.slow


async def frozen(console: Console) -> tuple[bool, str | None]:
    """Return whether the crown holds forward work, and who froze it."""
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            state = await crown_state(session)
            return bool(state.frozen), state.frozen_by
    finally:
        await rt.close()


async def forge(console: Console, door: str, reason: str) -> None:
    """Post `door` as a viewer and a legislator (own CSRF), and as the crown without one."""
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        attempts = []
        for name in ("vic", "lena"):
            cookie = await http_sign_in(client, console, name)
            csrf = await csrf_of(client, cookie, "/console/")
            attempts.append((cookie, {"csrf": csrf, "reason": reason}))
        attempts.append((await http_sign_in(client, console, "cora"), {"reason": reason}))
        for cookie, fields in attempts:
            answer = await client.post(f"/console/crown/{door}", data=fields, headers=cookie)
            assert answer.status_code == 403, (door, answer.text)


async def test_only_the_crown_freezes_and_unfreezes_from_the_overview(
    console: Console, browser_page: Watched
) -> None:
    page = browser_page.page
    for name in ("vic", "lena"):
        await sign_in(browser_page, console, name)
        assert "Not frozen" in (await page.locator("#freeze-state").text_content() or "")
        assert await page.locator("#freeze-form, #unfreeze-form").count() == 0
    await forge(console, "freeze", "forged")
    assert await frozen(console) == (False, None)

    await sign_in(browser_page, console, "cora")
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        cora = await http_sign_in(client, console, "cora")
        fields = {"csrf": await csrf_of(client, cora, "/console/"), "reason": "   "}
        blank = await client.post("/console/crown/freeze", data=fields, headers=cora)
        assert blank.status_code == 422, blank.text
    assert await frozen(console) == (False, None)
    await page.fill("#freeze-reason", "a bad <b>deploy</b> upstream")
    await page.click("#freeze-form button[type=submit]")
    await page.wait_for_url(console.page_url("/"))
    state = await page.locator("#freeze-state").text_content() or ""
    assert "Frozen by cora" in state and "a bad <b>deploy</b> upstream" in state
    assert await frozen(console) == (True, "cora")

    await forge(console, "unfreeze", "forged")
    assert await frozen(console) == (True, "cora")
    await sign_in(browser_page, console, "vic")
    assert "Frozen by cora" in (await page.locator("#freeze-state").text_content() or "")
    assert await page.locator("#freeze-form, #unfreeze-form").count() == 0

    await sign_in(browser_page, console, "cora")
    await page.click("#unfreeze-form button[type=submit]")
    await page.wait_for_url(console.page_url("/"))
    assert "Not frozen" in (await page.locator("#freeze-state").text_content() or "")
    assert (await frozen(console))[0] is False
    assert browser_page.errors == []
