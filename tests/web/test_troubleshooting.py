"""Incidents, runbooks and the log analysis in a real headless Chromium against ``triad serve``.

An incident's text and a log line written as HTML show as text, with no dialog and no
console error; the analysis form refuses a bad ``since`` in the page and runs a good one.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ops.logs.corpus import line, write
from tests.web.conftest import HOSTILE, Console, Watched, sign_in
from tests.web.test_troubleshooting_pages import plant_incident
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.runtime import Runtime

pytestmark = pytest.mark.slow
PLANTED = "inc-0000000000aa"


async def seed(console: Console) -> dict[str, Any]:
    """Troubleshoot a runbook through the API (as an executive); plant a hostile incident."""
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session() as session:
            _, token = await create_token(session, name="eli", roles=[Role.EXECUTIVE], by="test")
            await lifecycle.commit(session)
        await plant_incident(rt, PLANTED, minutes_ago=1)
    finally:
        await rt.close()
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as client:
        run = await client.post(
            "/runbooks/data_inconsistency/troubleshoot",
            json={"resolution": "re_sync_data", "wait_s": 0},
            headers={"authorization": f"Bearer {token}"},
        )
    assert run.status_code == 200, run.text
    at = utcnow()
    write(console.settings.log_dir / "planted.log", [line(at, f"{HOSTILE} failed", "error")])
    incident: dict[str, Any] = run.json()
    return incident


async def test_each_troubleshooting_page_renders_without_a_console_error(
    console: Console, browser_page: Watched
) -> None:
    incident = await seed(console)
    await sign_in(browser_page, console, "vic")
    page = browser_page.page
    for path in (
        "/incidents",
        "/incidents?status=unresolved",
        f"/incidents/{incident['id']}",
        f"/incidents/{PLANTED}",
        "/runbooks",
        "/runbooks/data_inconsistency",
        "/logs",
    ):
        answer = await page.goto(console.page_url(path))
        assert answer is not None and answer.status == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'nonce-" in csp and "unsafe-inline" not in csp, csp
        assert await page.locator("h1").count() == 1, path
    await page.goto(console.page_url(f"/incidents/{incident['id']}"))
    await page.click("#operation")
    operation_id = incident["chosen"]["operation_id"]
    await page.wait_for_url(console.page_url(f"/operations/{operation_id}"))
    await page.goto(console.page_url("/incidents"))
    await page.click("nav a[href$='/runbooks']")
    await page.click("#runbooks a[href$='/runbooks/data_inconsistency']")
    assert "re_sync_data" in (await page.locator("#resolutions").text_content() or "")
    assert browser_page.errors == []


async def test_html_in_an_incident_and_a_log_line_shows_as_text(
    console: Console, browser_page: Watched
) -> None:
    await seed(console)
    await sign_in(browser_page, console, "vic")
    page = browser_page.page
    for path in ("/incidents", f"/incidents/{PLANTED}"):
        await page.goto(console.page_url(path))
        assert await page.locator("main script, main b").count() == 0, path
        assert HOSTILE in (await page.locator("main").text_content() or ""), path
    assert await page.locator("#diagnosis td.desc").text_content() == HOSTILE
    await page.goto(console.page_url("/logs"))
    await page.fill("#since", "1h")
    await page.click("#analyze-form button[type=submit]")
    await page.wait_for_selector("#templates")
    templates = await page.locator("#templates").text_content() or ""
    assert "<script>alert(<NUM>)</script><b>x</b> failed" in templates, templates
    assert await page.locator("main script, main b").count() == 0
    assert browser_page.dialogs == []
    assert browser_page.errors == []


async def test_a_bad_since_is_refused_in_the_page(console: Console, browser_page: Watched) -> None:
    await sign_in(browser_page, console, "lena")
    page = browser_page.page
    await page.goto(console.page_url("/logs"))
    await page.fill("#since", "since lunch")
    await page.click("#analyze-form button[type=submit]")
    error = await page.locator("#error").text_content() or ""
    assert "neither a duration" in error and "since lunch" in error
    assert await page.locator("#no-analysis").count() == 1  # nothing ran, nothing changed
    assert await page.input_value("#since") == "since lunch"
