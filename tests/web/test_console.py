"""The web console in a real headless Chromium against a real ``triad serve``.

Doors of "only the services' rules decide", each tested here or in test_forms.py: the page
hides buttons a role cannot use; a post without the session's CSRF token, with another
session's, or from a viewer with its own, is refused and changes nothing.
"""

from __future__ import annotations

import pytest

from tests.web.conftest import HOSTILE, Console, Watched, sign_in
from triadops.constitution.ledger import to_entry
from triadops.domain.enums import OperationStatus
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.storage import ledger as ledger_store
from triadops.storage.records import load_operation

pytestmark = pytest.mark.slow


async def read(console: Console, operation_id: str) -> tuple[Operation, list[LedgerEntry]]:
    """Read an operation and its ledger entries straight from the database."""
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            op = await load_operation(session, operation_id)
            rows = await ledger_store.select_operation_entries(session, operation_id)
            return op, [to_entry(r) for r in rows]
    finally:
        await rt.close()


async def test_each_page_renders_without_a_console_error(
    console: Console, browser_page: Watched
) -> None:
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    for path in (
        "/",
        "/operations",
        "/operations?status=awaiting_approval",
        f"/operations/{console.operations['high']}",
        f"/operations/{console.operations['critical']}",
        "/alerts",
        "/alerts?state=firing",
        "/backups",
        "/audit",
        "/maintenance",
    ):
        answer = await page.goto(console.page_url(path))
        assert answer is not None and answer.status == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'nonce-" in csp and "unsafe-inline" not in csp, csp
        assert await page.locator("h1").count() == 1, path
    assert browser_page.errors == []
    assert await page.evaluate("getComputedStyle(document.body).margin") == "0px"  # the stylesheet


async def test_an_approval_made_in_the_page_names_its_principal_and_plan(
    console: Console, browser_page: Watched
) -> None:
    operation_id = console.operations["high"]
    shown, _ = await read(console, operation_id)
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    await page.goto(console.page_url(f"/operations/{operation_id}"))
    assert await page.locator("#plan-hash").text_content() == shown.plan_hash
    await page.click("#approve-form button[type=submit]")
    await page.wait_for_url(console.page_url(f"/operations/{operation_id}"))
    assert "lena as legislative" in (await page.locator("#approvals").text_content() or "")
    op, entries = await read(console, operation_id)
    approvals = [e for e in entries if e.event == "approval"]
    assert [(e.actor, e.details["plan_hash"]) for e in approvals] == [("lena", shown.plan_hash)]
    assert op.status is not OperationStatus.AWAITING_APPROVAL
    assert browser_page.errors == []


async def test_a_viewer_sees_no_decision(console: Console, browser_page: Watched) -> None:
    await sign_in(browser_page, console, "vic")
    page = browser_page.page
    await page.goto(console.page_url(f"/operations/{console.operations['high']}"))
    assert await page.locator("#description").count() == 1
    assert await page.locator("form[action*='/approve'], form[action*='/reject']").count() == 0
    assert await page.locator("form[action*='/cancel'], form[action*='/acknowledge']").count() == 0
    assert browser_page.errors == []


async def test_html_in_a_description_shows_as_text(console: Console, browser_page: Watched) -> None:
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    for path in ("/", "/operations", f"/operations/{console.operations['hostile']}"):
        await page.goto(console.page_url(path))
        assert await page.locator("main script, main b").count() == 0, path
        assert HOSTILE in (await page.locator("main").text_content() or ""), path
    assert await page.locator("#description").text_content() == HOSTILE
    assert browser_page.dialogs == []
    assert browser_page.errors == []


async def test_the_session_cookie_is_httponly_strict_and_host_bound(
    console: Console, browser_page: Watched
) -> None:
    await sign_in(browser_page, console, "lena")
    cookies = await browser_page.page.context.cookies()
    assert [c["name"] for c in cookies] == ["__Host-triad_console"]
    (cookie,) = cookies
    assert cookie["httpOnly"] and cookie["secure"]
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert console.tokens["lena"] not in cookie["value"]
    # The page's own script cannot read it.
    assert "triad_console" not in await browser_page.page.evaluate("document.cookie")


async def test_a_critical_approval_asks_for_the_token_again(
    console: Console, browser_page: Watched
) -> None:
    operation_id = console.operations["critical"]
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    await page.goto(console.page_url(f"/operations/{operation_id}"))
    await page.fill("#confirm-token", console.tokens["cora"])  # someone else's token
    await page.click("#approve-form button[type=submit]")
    assert "not the signed-in principal" in (await page.locator(".error").text_content() or "")
    assert [e for e in (await read(console, operation_id))[1] if e.event == "approval"] == []
    await page.goto(console.page_url(f"/operations/{operation_id}"))
    await page.fill("#confirm-token", console.tokens["lena"])
    await page.click("#approve-form button[type=submit]")
    await page.wait_for_url(console.page_url(f"/operations/{operation_id}"))
    approvals = [e for e in (await read(console, operation_id))[1] if e.event == "approval"]
    assert [e.actor for e in approvals] == ["lena"]


async def test_an_alert_is_acknowledged_and_silenced_from_the_page(
    console: Console, browser_page: Watched
) -> None:
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    await page.goto(console.page_url("/alerts"))
    await page.click("#alerts form[action$='/ack'] button")
    await page.wait_for_url(console.page_url("/alerts"))
    assert "acknowledged" in (await page.locator("#alerts").text_content() or "")
    await page.fill("#alerts input[name=hours]", "2")
    await page.fill("#alerts input[name=comment]", "disk swap tonight")
    await page.click("#alerts form[action$='/silence'] button")
    await page.wait_for_url(console.page_url("/alerts"))
    silences = await page.locator("#silences").text_content() or ""
    assert "alertname=DiskFilling severity=warning" in silences and "lena" in silences
    await page.click("#silences form[action$='/expire'] button")
    await page.wait_for_url(console.page_url("/alerts"))
    assert "No silence in force" in (await page.locator("#silences").text_content() or "")
    assert browser_page.errors == []


async def test_a_viewer_sees_no_alert_decision(console: Console, browser_page: Watched) -> None:
    await sign_in(browser_page, console, "vic")
    page = browser_page.page
    await page.goto(console.page_url("/alerts"))
    assert "DiskFilling" in (await page.locator("#alerts").text_content() or "")
    assert await page.locator("main form[method=post]").count() == 0
