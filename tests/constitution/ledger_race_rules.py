"""The ledger machine's race: workers drive while a cancel and an alert arrive at once.

A mixin of `ledger_machine.LedgerMachine`. The calls run concurrently on one event loop, so
their order is whatever the databases' locks make it: no interleaving is assumed, and every
one of them must leave rows the ledger explains (the machine's invariant checks after).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.constitution.ledger_world import ALERTS, ALICE, CAROL, EVE, REFUSED
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import cancel_operation
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.ops.alerts import service as alerts
from triadops.worker.claims import drive_once

if TYPE_CHECKING:
    from tests.constitution.ledger_machine import LedgerMachine

PENDING = ("later", "high", "critical", "dies", "emergency", "low", "on_cache", "two_steps")
"""Kinds of request that are often still open when a cancel comes."""


class RaceRules:
    """Concurrent calls: two workers, a cancel, an alert about the system being changed."""

    @precondition(lambda self: self.operations)
    @rule(
        pick=st.integers(min_value=0, max_value=1_000),
        who=st.sampled_from([CAROL, ALICE]),
        workers=st.integers(min_value=1, max_value=2),
        alert=st.booleans(),
    )
    def race(self: LedgerMachine, pick: int, who: Identity, workers: int, alert: bool) -> None:
        operation_id = self.pick(pick, PENDING)
        if operation_id is None:
            return
        rt = self.w.rt

        async def cancel() -> None:
            async with rt.session() as session:
                await cancel_operation(session, operation_id=operation_id, by=who)
                await lifecycle.commit(session)

        async def drive(owner: str) -> None:
            for _ in range(20):
                if not await drive_once(rt.powers, owner=owner):
                    return

        async def post() -> None:
            raised = AlertIn(
                labels={"alertname": "Latency", "system": "cache"}, severity=Severity.WARNING
            )
            async with rt.session() as session:
                await alerts.ingest(
                    session, [raised], source="api", now=utcnow(), settings=ALERTS, by=EVE.name
                )
                await lifecycle.commit(session)

        async def race() -> list[BaseException | None]:
            calls = [cancel(), *(drive(f"racer-{n}") for n in range(workers))]
            if alert:
                calls.append(post())
            return await asyncio.gather(*calls, return_exceptions=True)

        for outcome in self.run(race()):
            if isinstance(outcome, BaseException) and not isinstance(outcome, REFUSED):
                raise outcome
