"""The crown's post-change review and a judge's ruling on a step in doubt, from the page.

Doors of "only the crown reviews, only a judge (or the crown) rules", each tested here:
the page shows the forms to those roles only; a forged post by a viewer, a legislator or
(for a review) a judge, each with its own session's CSRF token, is refused with 403 and
changes nothing; a post without the CSRF token is refused too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.pipeline import ALICE, request, start_worker
from tests.fixtures.servers import triad_serve
from tests.web.conftest import Console, Watched, _seed, sign_in
from tests.web.test_forms import csrf_of
from tests.web.test_forms import sign_in as http_sign_in
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.enums import OperationStatus, Role
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import ledger as ledger_store
from triadops.storage.records import load_operation

pytestmark = pytest.mark.slow
WAIT_S = 60.0


@dataclass
class Ruled:
    """The console, an operation that completed and one whose step is in doubt."""

    console: Console
    done: str
    doubt: str


async def load(settings: Settings, operation_id: str) -> Operation:
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            return await load_operation(session, operation_id)
    finally:
        await rt.close()


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (bounded) until `check` holds."""
    async with asyncio.timeout(WAIT_S):
        while not await check():
            await asyncio.sleep(0.05)
    assert await check(), what


async def _submit_two(settings: Settings) -> tuple[str, str, str]:
    """Add a judge's token; submit a noop and a non-idempotent step that sleeps (low risk).

    Return the judge's token and the two operations' ids.
    """
    marks = Path(settings.home) / "drills" / "marks"
    done = request(description="a change to review")
    doubt = request([("noop.once", {"sleep_s": 60, "marker": str(marks)})])
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session() as session:
            _, judge = await create_token(session, name="jude", roles=[Role.JUDICIAL], by="test")
            for req in (done, doubt):
                await submit_operation(session, rt.powers, request=req, requester=ALICE)
            await lifecycle.commit(session)
    finally:
        await rt.close()
    return judge, done.operation_id, doubt.operation_id


@pytest.fixture
async def ruled(settings: Settings, tmp_path: Path) -> AsyncIterator[Ruled]:
    """A worker completes one operation and is killed in the other's step; serve goes on.

    The server's worker finds the dead worker's lease expired and puts the step in doubt.
    """
    tokens, operations = await _seed(settings)
    tokens["jude"], done, doubt = await _submit_two(settings)
    marks = Path(settings.home) / "drills" / "marks"
    worker = start_worker(settings, lease_s=1.0)
    try:

        async def ran() -> bool:
            completed = (await load(settings, done)).status is OperationStatus.COMPLETED
            return completed and marks.exists()

        await until(ran, "the worker did not complete one and start the other")
    finally:
        worker.kill()
        worker.wait(timeout=30)
    env = {"TRIAD_MONITOR": "false", "TRIAD_LEASE_S": "1", "TRIAD_WORKER_POLL_S": "0.05"}
    async with triad_serve(settings, tmp_path, env) as served:
        console = Console(served.url, settings, tokens, operations, served.stderr)

        async def in_doubt() -> bool:
            return (await load(settings, doubt)).status is OperationStatus.IN_DOUBT

        await until(in_doubt, "the interrupted step never went in doubt")
        yield Ruled(console, done, doubt)


async def _ledger_actors(settings: Settings, operation_id: str) -> list[tuple[str, str]]:
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            rows = await ledger_store.select_operation_entries(session, operation_id)
            return [(row.event, row.actor) for row in rows]
    finally:
        await rt.close()


async def test_forged_rulings_are_refused_and_change_nothing(ruled: Ruled) -> None:
    console, page = ruled.console, "/console/operations/{}/{}"
    review = (page.format(ruled.done, "review"), {"lessons": "forged lessons", "note": "x"})
    resolve = (page.format(ruled.doubt, "resolve"), {"step_succeeded": "false"})
    before = {ruled.done: await _ledger_actors(console.settings, ruled.done)}
    before[ruled.doubt] = await _ledger_actors(console.settings, ruled.doubt)
    async with httpx.AsyncClient(base_url=console.url, timeout=10) as client:
        cora = await http_sign_in(client, console, "cora")
        forged = []
        for name, doors in (("vic", (review, resolve)), ("lena", (review, resolve))):
            cookie = await http_sign_in(client, console, name)
            csrf = await csrf_of(client, cookie, "/console/")
            forged += [(cookie, path, {**fields, "csrf": csrf}) for path, fields in doors]
        jude = await http_sign_in(client, console, "jude")
        judged = {**review[1], "csrf": await csrf_of(client, jude, "/console/")}
        forged.append((jude, review[0], judged))
        # The crown holds both powers, but not without its session's CSRF token.
        forged += [(cora, path, fields) for path, fields in (review, resolve)]
        for cookie, path, fields in forged:
            answer = await client.post(path, data=fields, headers=cookie)
            assert answer.status_code == 403, (path, answer.text)
    assert (await load(console.settings, ruled.done)).review is None
    assert (await load(console.settings, ruled.doubt)).status is OperationStatus.IN_DOUBT
    for operation_id, entries in before.items():
        assert await _ledger_actors(console.settings, operation_id) == entries


async def test_the_crown_reviews_and_a_judge_rules_from_the_page(
    ruled: Ruled, browser_page: Watched
) -> None:
    console, page = ruled.console, browser_page.page
    done_url = console.page_url(f"/operations/{ruled.done}")
    doubt_url = console.page_url(f"/operations/{ruled.doubt}")
    for name in ("vic", "lena"):
        await sign_in(browser_page, console, name)
        for url in (done_url, doubt_url):
            await page.goto(url)
            assert await page.locator("#review-form, #resolve-form").count() == 0, (name, url)

    await sign_in(browser_page, console, "cora")
    await page.goto(doubt_url)
    assert await page.locator("#resolve-form").count() == 1  # the crown may rule too
    await page.goto(done_url)
    await page.fill("#review-lessons", "the noop <b>did</b> nothing, as planned")
    await page.fill("#review-note", "INC-7")
    await page.click("#review-form button[type=submit]")
    await page.wait_for_url(done_url)
    shown = await page.locator("#review-lessons-shown").text_content()
    assert shown == "the noop <b>did</b> nothing, as planned"
    assert await page.locator("#review-form").count() == 0  # one review an operation
    review = (await load(console.settings, ruled.done)).review
    assert review is not None and (review.reviewed_by, review.note) == ("cora", "INC-7")

    await sign_in(browser_page, console, "jude")
    await page.goto(done_url)
    assert await page.locator("#review-form, #resolve-form").count() == 0
    await page.goto(doubt_url)
    await page.click("#resolve-form button[value=true]")
    await page.wait_for_url(doubt_url)
    op = await load(console.settings, ruled.doubt)
    assert op.status is not OperationStatus.IN_DOUBT
    assert ("jude", "in_doubt", "executing") in [
        (e.actor, e.from_status, e.to_status) for e in await _entries(console, ruled.doubt)
    ]
    assert browser_page.errors == []


async def _entries(console: Console, operation_id: str) -> list[Any]:
    rt = await Runtime.open(console.settings, migrate=False)
    try:
        async with rt.session(read_only=True) as session:
            return list(await ledger_store.select_operation_entries(session, operation_id))
    finally:
        await rt.close()
