"""``triad ops show`` says who acknowledged an emergency, when, and how late."""

from __future__ import annotations

import asyncio

from tests.cli.conftest import Triad, operation
from tests.fixtures.pipeline import CAROL, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import acknowledge
from triadops.domain.clock import FakeClock
from triadops.domain.enums import Role
from triadops.domain.identity import Identity
from triadops.runtime import Runtime
from triadops.settings import Settings

ALICE_OF_THE_CROWN = Identity(name="crown-alice", roles=frozenset({Role.CROWN}))


def emergency() -> str:
    """Submit an emergency operation as the crown; return its id."""
    req = request(
        operation_type="emergency",
        constitutional_authority="crown",
        requested_by="carol",
        emergency_priority=True,
    )

    async def work() -> None:
        rt = await Runtime.open(Settings())
        try:
            await submit(rt, req, who=CAROL)
        finally:
            await rt.close()

    asyncio.run(work())
    return req.operation_id


def acknowledged_after(clock: FakeClock, op_id: str, seconds: float) -> None:
    """Let `seconds` pass, then acknowledge as another crown."""
    clock.advance(seconds)

    async def work() -> None:
        rt = await Runtime.open(Settings())
        try:
            async with rt.session() as session:
                await acknowledge(session, operation_id=op_id, by=ALICE_OF_THE_CROWN)
                await lifecycle.commit(session)
        finally:
            await rt.close()

    asyncio.run(work())


def test_a_late_acknowledgement_says_how_late(triad: Triad, clock: FakeClock) -> None:
    op_id = emergency()
    pending = triad("ops", "show", op_id)
    assert "acknowledged by nobody yet (due by" in pending.stdout, pending.output

    acknowledged_after(clock, op_id, Settings().acknowledgement_timeout_s + 192)
    shown = triad("ops", "show", op_id)
    assert shown.exit_code == 0, shown.output
    at = clock.now().strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"acknowledged by crown-alice at {at}, 3 min 12 s late" in shown.stdout
    ack = operation(triad, op_id)["acknowledgement"]
    assert (ack["by"], ack["late"], ack["late_s"]) == ("crown-alice", True, 192.0)


def test_an_acknowledgement_in_time_says_so(triad: Triad, clock: FakeClock) -> None:
    op_id = emergency()
    acknowledged_after(clock, op_id, 30)
    assert ", on time" in triad("ops", "show", op_id).stdout
    ack = operation(triad, op_id)["acknowledgement"]
    assert (ack["late"], ack["late_s"]) == (False, 0.0)
