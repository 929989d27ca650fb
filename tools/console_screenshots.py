"""Take the README's screenshots of the web console: a seeded database, ``triad serve``, chromium.

Run ``python tools/console_screenshots.py`` (Debian's chromium at /usr/bin/chromium, Playwright
installed by the dev extras); the PNGs go to ``docs/console/``. Nothing here is a test: the
browser tests live in ``tests/web/``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.async_api import Page, async_playwright

from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.domain.enums import Role
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.ops.alerts.service import ingest
from triadops.runtime import Runtime
from triadops.settings import Settings

OUT = Path(__file__).parents[1] / "docs" / "console"
REQUESTER = Identity(name="alice", roles=frozenset({Role.EXECUTIVE}))


def _request(
    description: str, steps: list[dict[str, object]], **fields: object
) -> OperationRequest:
    return OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": "executive",
            "description": description,
            "requested_by": "alice",
            "steps": steps,
            **fields,
        }
    )


async def seed(settings: Settings) -> tuple[str, dict[str, str]]:
    """Issue lena's and eli's tokens, raise two alerts, submit a routine and a high-risk one."""
    rt = await Runtime.open(settings)
    try:
        async with rt.session() as session:
            _, secret = await create_token(
                session, name="lena", roles=[Role.LEGISLATIVE], by="demo"
            )
            _, executive = await create_token(
                session, name="eli", roles=[Role.EXECUTIVE], by="demo"
            )
            await lifecycle.commit(session)
        async with rt.session() as session:
            raised = [
                AlertIn(labels={"alertname": "DiskFilling", "instance": "db-1"}),
                AlertIn(labels={"alertname": "SlowQueries", "service": "api"}, severity="critical"),
            ]
            await ingest(
                session, raised, source="api", now=utcnow(), settings=settings.alerts, by="demo"
            )
            await lifecycle.commit(session)
        drafts = {
            "routine": _request("Nightly statistics refresh", [{"action": "noop", "params": {}}]),
            "high": _request(
                "Purge the API's access records older than the retention",
                [{"action": "database.purge_audit_logs", "params": {}}],
                affected_systems=["api", "audit", "reports", "billing"],
                rollback_plan="restore audit_logs from the hourly backup",
            ),
        }
        for req in drafts.values():
            async with rt.session() as session:
                await submit_operation(session, rt.powers, request=req, requester=REQUESTER)
                await lifecycle.commit(session)
        return secret, {"eli": executive, **{key: req.operation_id for key, req in drafts.items()}}
    finally:
        await rt.close()


async def wait_for(page: Page, url: str, text: str) -> None:
    """Reload `url` until it shows `text` (the worker and the monitor run on their own)."""
    for _ in range(300):
        await page.goto(url)
        if text in (await page.locator("main").text_content() or ""):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} never showed {text!r}")


async def troubleshoot(base: str, token: str) -> None:
    """Run two runbooks as eli (an executive): one resolved by its operation, one diagnosed."""
    runs = [
        ("data_inconsistency", {"resolution": "re_sync_data", "wait_s": 60}),
        ("high_response_time", {"resolve": False}),
    ]
    async with httpx.AsyncClient(base_url=base, timeout=90) as client:
        for name, body in runs:
            answer = await client.post(
                f"/runbooks/{name}/troubleshoot",
                json=body,
                headers={"authorization": f"Bearer {token}"},
            )
            answer.raise_for_status()


async def shoot(base: str, token: str, operations: dict[str, str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        await page.goto(f"{base}/signin")
        await page.screenshot(path=OUT / "signin.png")
        await page.fill("#token", token)
        await page.click("main button[type=submit]")
        await page.wait_for_url(f"{base}/")
        await wait_for(page, f"{base}/", "Overall")
        await page.screenshot(path=OUT / "overview.png", full_page=True)
        await wait_for(page, f"{base}/operations/{operations['routine']}", "completed")
        await page.screenshot(path=OUT / "operation-completed.png", full_page=True)
        await page.goto(f"{base}/operations")
        await page.screenshot(path=OUT / "operations.png", full_page=True)
        await page.goto(f"{base}/operations/{operations['high']}")
        await page.screenshot(path=OUT / "operation-approval.png", full_page=True)
        await page.goto(f"{base}/alerts")
        await page.screenshot(path=OUT / "alerts.png", full_page=True)
        await page.goto(f"{base}/maintenance")
        await page.screenshot(path=OUT / "maintenance.png", full_page=True)
        await page.goto(f"{base}/audit")
        await page.screenshot(path=OUT / "audit.png", full_page=True)
        await page.goto(f"{base}/incidents")
        await page.screenshot(path=OUT / "incidents.png", full_page=True)
        await page.click("#incidents tr:has(a[href*='/operations/']) a[href*='/incidents/']")
        await page.screenshot(path=OUT / "incident.png", full_page=True)
        await browser.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as home, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        settings = Settings(home=Path(home))
        token, operations = await seed(settings)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
            "TRIAD_HOME": home,
            "TRIAD_CONFIG": "",
            "TRIAD_HEALTH__EVERY_S": "2",
        }
        command = [sys.executable, "-m", "triadops.cli.main", "serve", "--port", str(port)]
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                for _ in range(300):
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
            await troubleshoot(f"http://127.0.0.1:{port}", operations.pop("eli"))
            await shoot(f"http://127.0.0.1:{port}/console", token, operations)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
