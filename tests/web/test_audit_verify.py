"""The audit page's "Verify now": the API's replay of the ledger, bounded, from the page.

Doors of "verification is read-only and bounded": any signed-in role (a viewer here) may
run it, but only from its session's page (a post without the CSRF token is refused, and so
is an anonymous one); a tampered entry is named; past its time limit the replay is
cancelled and the page says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from tests.fixtures.servers import triad_serve
from tests.web.conftest import Console, Watched, _seed, sign_in
from tests.web.test_forms import csrf_of
from tests.web.test_forms import sign_in as http_sign_in
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow

pytestmark = pytest.mark.slow


async def tamper_with_entry_two(console: Console) -> None:
    """Edit the second ledger entry's actor behind every service's back."""
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session() as session:
            await session.execute(
                update(LedgerRow).where(LedgerRow.seq == 2).values(actor="mallory")
            )
            await session.commit()
    finally:
        await rt.close()


async def test_a_viewer_verifies_the_chain_and_sees_the_first_broken_entry(
    console: Console, browser_page: Watched
) -> None:
    page = browser_page.page
    await sign_in(browser_page, console, "vic")
    await page.goto(console.page_url("/audit"))
    assert "Not verified" in (await page.locator("#chain-status").text_content() or "")
    await page.click("#verify-form button[type=submit]")
    result = await page.locator("#verify-result").text_content() or ""
    assert result.startswith("Intact:") and "entries checked" in result, result

    await tamper_with_entry_two(console)
    await page.goto(console.page_url("/audit"))
    await page.click("#verify-form button[type=submit]")
    result = await page.locator("#verify-result").text_content() or ""
    assert result.startswith("Broken at entry 2:"), result
    assert browser_page.errors == []

    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        vic = await http_sign_in(client, console, "vic")
        unsigned = await client.post("/console/audit/verify", data={}, headers=vic)
        assert unsigned.status_code == 403, unsigned.text
        anonymous = await client.post("/console/audit/verify", data={"csrf": "0" * 64})
        assert anonymous.status_code == 401


@pytest.fixture
async def impatient(settings: Settings, tmp_path: Path) -> AsyncIterator[Console]:
    """A server whose console gives a replay no time at all: it stops at its first read."""
    tokens, operations = await _seed(settings)
    env = {"TRIAD_MONITOR": "false", "TRIAD_CONSOLE_VERIFY_TIMEOUT_S": "1e-9"}
    async with triad_serve(settings, tmp_path, env) as served:
        yield Console(served.url, settings, tokens, operations, served.stderr)


async def test_a_replay_past_its_limit_is_cancelled_and_said(impatient: Console) -> None:
    async with httpx.AsyncClient(base_url=impatient.url, timeout=10) as client:
        vic = await http_sign_in(client, impatient, "vic")
        fields = {"csrf": await csrf_of(client, vic, "/console/audit")}
        answer = await client.post("/console/audit/verify", data=fields, headers=vic)
        assert answer.status_code == 200, answer.text
        assert "Not finished within 1e-09 s" in answer.text
        assert "triad audit verify" in answer.text
        # The server is none the worse: the page still opens, and the API's replay runs.
        assert (await client.get("/console/audit", headers=vic)).status_code == 200
