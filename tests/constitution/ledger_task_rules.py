"""The ledger machine's rules for routine maintenance tasks.

A mixin of `ledger_machine.LedgerMachine`: a person pauses or resumes a seed task (through
`LedgerMachine.transaction`: a refusal must change nothing), and the scheduler's pass runs
as the monitor's leader runs it (seeding, due runs, misses after the clock jumps, results
read back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import strategies as st
from hypothesis.stateful import rule
from sqlalchemy.ext.asyncio import AsyncSession

from tests.constitution.ledger_world import ALICE, BOB, CAROL, VIEWER
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.ops.maintenance import service

if TYPE_CHECKING:
    from tests.constitution.ledger_machine import LedgerMachine

KEEPER = st.sampled_from([ALICE, BOB, ALICE, VIEWER, CAROL])
"""Mostly one who may pause and resume (executive or legislative); sometimes not."""


class TaskRules:
    """Pausing and resuming routine tasks, and the scheduler's pass."""

    @rule(
        who=KEEPER,
        pause=st.booleans(),
        name=st.sampled_from(["log_rotation", "cache_cleanup", "nope"]),
    )
    def pause_or_resume_a_task(self: LedgerMachine, who: Identity, pause: bool, name: str) -> None:
        verb = service.pause_task if pause else service.resume_task

        async def call(session: AsyncSession) -> None:
            await verb(
                session,
                settings=self.w.rt.settings,
                name=name,
                by=who,
                reason="property",
                now=utcnow(),
            )

        self.transaction(who, "pause task" if pause else "resume task", call)

    @rule()
    def scheduler_pass(self: LedgerMachine) -> None:
        self.run(self.monitor.scheduler.run(now=utcnow()))
