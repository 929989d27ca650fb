"""Change-linked silences: open when a change starts executing, end when it is over."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from tests.fixtures.api import drive
from tests.fixtures.pipeline import JUDGE, load, request, submit
from triadops.constitution.change_silences import matchers_for
from triadops.constitution.crown import audit
from triadops.domain.alerts import Matcher, silenced_by
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.storage.ledger import select_operation_entries
from triadops.storage.tables import SilenceRow


async def silences_of(rt: Runtime, operation_id: str) -> list[SilenceRow]:
    async with rt.session(read_only=True) as session:
        stmt = select(SilenceRow).where(SilenceRow.operation_id == operation_id)
        return list((await session.scalars(stmt)).all())


async def events_of(rt: Runtime, operation_id: str) -> list[str]:
    async with rt.session(read_only=True) as session:
        return [e.event for e in await select_operation_entries(session, operation_id)]


async def verified(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def test_a_silence_covers_a_change_while_it_executes(runtime: Runtime) -> None:
    req = request([("noop", {"sleep_s": 0.5})], affected_systems=["api", "db.main"])
    await submit(runtime, req)
    driving = asyncio.create_task(drive(runtime))
    for _ in range(200):
        if (await load(runtime, req.operation_id)).status == OperationStatus.EXECUTING:
            break
        await asyncio.sleep(0.01)
    [silence] = await silences_of(runtime, req.operation_id)
    matchers = [Matcher.model_validate(m) for m in silence.matchers]
    # It mutes the change's own systems, and only them.
    assert silenced_by(matchers, {"alertname": "X", "system": "db.main"})
    assert silenced_by(matchers, {"alertname": "X", "system": "api"})
    assert not silenced_by(matchers, {"alertname": "X", "system": "dbxmain"})
    assert not silenced_by(matchers, {"alertname": "X", "system": "api2"})
    assert not silenced_by(matchers, {"alertname": "X"})
    assert silence.ends_at > silence.starts_at
    await driving

    op = await load(runtime, req.operation_id)
    assert op.status == OperationStatus.COMPLETED
    [silence] = await silences_of(runtime, req.operation_id)
    # Ended by the judicial pass, in the commit that recorded it.
    assert silence.ends_at <= op.updated_at + timedelta(seconds=1)
    events = await events_of(runtime, req.operation_id)
    assert events.index("change_silence_opened") < events.index("change_silence_ended")
    assert await verified(runtime) == []


async def test_a_rolled_back_change_ends_its_silence(runtime: Runtime) -> None:
    req = request([("noop", {}), ("noop", {"fail": True})], affected_systems=["cache"])
    await submit(runtime, req)
    await drive(runtime)
    op = await load(runtime, req.operation_id)
    assert op.status == OperationStatus.ROLLED_BACK
    [silence] = await silences_of(runtime, req.operation_id)
    assert silence.ends_at <= op.updated_at + timedelta(seconds=1)
    assert "change_silence_ended" in await events_of(runtime, req.operation_id)


async def test_a_change_without_affected_systems_mutes_nothing(runtime: Runtime) -> None:
    req = request()
    await submit(runtime, req)
    await drive(runtime)
    assert await silences_of(runtime, req.operation_id) == []


def test_system_names_are_matched_literally() -> None:
    [matcher] = [Matcher.model_validate(m) for m in matchers_for(["a.b", "c|d", "(x)"])]
    assert matcher.matches({"system": "c|d"})
    assert matcher.matches({"system": "(x)"})
    assert not matcher.matches({"system": "c"})
    assert not matcher.matches({"system": "axb"})


async def test_a_judicial_change_cannot_mute_what_a_judge_may_not(runtime: Runtime) -> None:
    # A judicial token may submit work but not silence alerts: naming affected systems in its
    # request must not get it the silence it could not add by hand.
    req = request(
        [("noop", {})],
        operation_type="validation",
        constitutional_authority="judicial",
        requested_by="judy",
        affected_systems=["db"],
    )
    await submit(runtime, req, JUDGE)
    await drive(runtime)
    assert (await load(runtime, req.operation_id)).status == OperationStatus.COMPLETED
    assert await silences_of(runtime, req.operation_id) == []
