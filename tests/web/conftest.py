"""A real ``triad serve`` with seeded tokens and operations, and a real headless Chromium.

The browser is Debian's chromium (``make test`` installs it under CI), driven by Playwright
through its ``executable_path``: no browser is downloaded. Without it the browser tests
skip with the reason, except under CI, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.pipeline import ALICE, request
from tests.fixtures.servers import triad_serve
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.ops.alerts.service import ingest
from triadops.runtime import Runtime
from triadops.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
SYSTEMS = ["a", "b", "c", "d"]
HOSTILE = "<script>alert(1)</script><b>x</b>"
"""A description written to run in whoever reads it: it must show as text."""

TOKENS = {
    "lena": [Role.LEGISLATIVE],
    "vic": [Role.VIEWER],
    "cora": [Role.CROWN],
}
"""The seeded people: a legislator, a viewer, the crown."""


@dataclass
class Console:
    """A running server with its seeded tokens (name -> secret) and operations (key -> id)."""

    url: str
    settings: Settings
    tokens: dict[str, str]
    operations: dict[str, str]
    log: Path
    errors: list[str] = field(default_factory=list)

    def page_url(self, path: str = "/") -> str:
        return f"{self.url}/console{path}"


async def _seed(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """Issue the tokens, raise an alert, submit a high-risk, a critical and a hostile operation."""
    rt = await Runtime.open(settings, migrate=False)
    try:
        secrets: dict[str, str] = {}
        async with rt.session() as session:
            for name, roles in TOKENS.items():
                _, secrets[name] = await create_token(session, name=name, roles=roles, by="test")
            await lifecycle.commit(session)
        operations: dict[str, str] = {}
        hold = "restore audit_logs from the hourly backup"
        drafts: dict[str, Any] = {
            "high": request(
                [("database.purge_audit_logs", {})], affected_systems=SYSTEMS, rollback_plan=hold
            ),
            "critical": request([("database.purge_audit_logs", {})], affected_systems=SYSTEMS),
            "hostile": request(
                [("database.purge_audit_logs", {})],
                affected_systems=SYSTEMS,
                rollback_plan=hold,
                description=HOSTILE,
            ),
        }
        async with rt.session() as session:
            raised = AlertIn(labels={"alertname": "DiskFilling", "instance": "db-1"})
            await ingest(
                session, [raised], source="api", now=utcnow(), settings=settings.alerts, by="test"
            )
            await lifecycle.commit(session)
        for key, req in drafts.items():
            async with rt.session() as session:
                await submit_operation(session, rt.powers, request=req, requester=ALICE)
                await lifecycle.commit(session)
            operations[key] = req.operation_id
    finally:
        await rt.close()
    return secrets, operations


@pytest.fixture
async def console(settings: Settings, tmp_path: Path) -> AsyncIterator[Console]:
    """Run ``triad serve`` over the seeded database (its worker drives what is approved)."""
    tokens, operations = await _seed(settings)
    async with triad_serve(settings, tmp_path, {"TRIAD_MONITOR": "false"}) as served:
        yield Console(served.url, settings, tokens, operations, served.stderr)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Debian chromium for one test."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required under CI (make chromium installs it)")
        pytest.skip(f"no {CHROMIUM}: install Debian's chromium package to run the browser tests")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    """A browser page and what went wrong in it: console errors, page errors, dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
async def browser_page(chromium: Any) -> AsyncIterator[Watched]:
    """A fresh browser context and page, with every console error and dialog collected."""
    context = await chromium.new_context()
    page = await context.new_page()
    watched = Watched(page)
    page.on(
        "console",
        lambda message: watched.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: watched.errors.append(str(error)))

    async def dismiss(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    try:
        yield watched
    finally:
        await context.close()


async def sign_in(watched: Watched, console: Console, name: str) -> None:
    """Sign in through the form as the seeded `name`, landing on the overview."""
    page = watched.page
    await page.goto(console.page_url("/signin"))
    await page.fill("#token", console.tokens[name])
    await page.click("main button[type=submit]")
    await page.wait_for_url(console.page_url("/"))
