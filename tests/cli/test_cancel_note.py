"""``triad ops cancel`` says what happens next, not only the status."""

from __future__ import annotations

import asyncio

from tests.cli.conftest import Triad, data
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.worker.claims import claim


def test_cancelling_a_queued_operation_says_it_stopped(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--id", "op-q")

    result = triad("ops", "cancel", "op-q")

    assert result.exit_code == 0, result.output
    assert "op-q: cancelled" in result.stdout
    assert "next: stopped; it will not run" in result.stdout


def test_cancelling_a_claimed_operation_says_it_stops_before_its_next_step(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    triad("ops", "submit", "--step", "noop", "--id", "op-run")

    async def a_worker_holds_it() -> None:
        rt = await Runtime.open(Settings())
        try:
            assert await claim(rt.powers, owner="busy-worker", limit=1, only="op-run")
        finally:
            await rt.close()

    asyncio.run(a_worker_holds_it())
    result = triad("ops", "cancel", "op-run")

    assert result.exit_code == 0, result.output
    assert "next: cancel requested; stops before its next step" in result.stdout
    assert data(triad("ops", "show", "op-run", "--json"))["status"] == "scheduled"
