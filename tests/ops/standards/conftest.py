"""A runtime with a high-risk, reversible ``restart`` procedure whose command a flag file fails.

The command is ``test ! -e FLAG``: the same plan (same hash) passes while the flag file is
absent and fails once it exists, as a real restart fails when the service does not come back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import drive
from tests.fixtures.pipeline import ALICE, BOB, approve, load, request, submit
from triadops.constitution import lifecycle
from triadops.domain.identity import Identity
from triadops.domain.operations import Operation
from triadops.domain.standards import Decision, StandardChange
from triadops.ops.standards import service
from triadops.runtime import Runtime
from triadops.settings import Settings

PROCEDURE = """\
name: restart
description: Restart the app and check it answers
operation_type: maintenance
constitutional_authority: executive
risk: high
rollback_plan: Start the previous release again.
validation_criteria: [system_functionality_maintained]
steps:
  - action: command.restart
"""


@dataclass
class Restarts:
    """The runtime, and the flag that makes the next restart fail."""

    rt: Runtime
    flag: Path

    async def run(self, *, who: Identity = ALICE, approver: Identity | None = BOB) -> Operation:
        """Submit one restart as `who`; approve it as `approver` if it waits; drive it."""
        op = await submit(self.rt, request(procedure="restart", requested_by=who.name), who)
        if op.status == "awaiting_approval" and approver is not None:
            await approve(self.rt, op.operation_id, approver)
        await drive(self.rt)
        return await load(self.rt, op.operation_id)

    async def submit(self, who: Identity = ALICE) -> Operation:
        return await submit(self.rt, request(procedure="restart", requested_by=who.name), who)

    async def decide(
        self, plan: str, decision: Decision, by: Identity, reason: str | None = None
    ) -> StandardChange:
        async with self.rt.session() as session:
            found = await service.decide(
                session, plan=plan, decision=decision, by=by, reason=reason
            )
            await lifecycle.commit(session)
        return found

    async def record(self, plan: str) -> StandardChange:
        async with self.rt.session(read_only=True) as session:
            return await service.find(session, plan)


def restart_settings(settings: Settings, flag: Path, **standards: Any) -> Settings:
    folder = settings.home / "procedures"
    folder.mkdir(exist_ok=True)
    (folder / "restart.yaml").write_text(PROCEDURE)
    command = {
        "description": "restart the app",
        "argv": ["test", "!", "-e", str(flag)],
        "rollback_argv": ["true"],
        "risk": "high",
        "reversible": True,
        "idempotent": True,
        "timeout_s": 30,
    }
    return Settings(
        home=settings.home,
        database_url=settings.database_url,
        monitor=False,
        commands={"restart": command},
        standards={"propose_after": 2, **standards},
    )


async def open_restarts(settings: Settings, tmp_path: Path, **standards: Any) -> Restarts:
    flag = tmp_path / "broken"
    rt = await Runtime.open(restart_settings(settings, flag, **standards), migrate=False)
    # The server stores its governance on start: the rules read the threshold from there.
    await rt.check_governance(writer="test server", adopt=True)
    return Restarts(rt, flag)


@pytest.fixture
async def restarts(settings: Settings, tmp_path: Path) -> AsyncIterator[Restarts]:
    opened = await open_restarts(settings, tmp_path)
    try:
        yield opened
    finally:
        await opened.rt.close()
