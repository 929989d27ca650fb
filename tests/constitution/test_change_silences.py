"""Change-linked silences: open when a change starts executing, end when it is over."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from tests.fixtures.api import drive
from tests.fixtures.fakes import GatedAction
from tests.fixtures.pipeline import JUDGE, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.domain.alerts import AlertIn, Matcher, Severity, silenced_by
from triadops.domain.change_silences import matchers_for
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import utcnow
from triadops.ops.alerts import service, silences
from triadops.runtime import Runtime
from triadops.storage.ledger import select_operation_entries
from triadops.storage.tables import AlertRow, LedgerRow, SilenceRow


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
    matcher, spare = [Matcher.model_validate(m) for m in matchers_for(["a.b", "c|d", "(x)"])]
    assert str(spare) == "severity!~(critical|emergency)"
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


def loud(
    name: str,
    system: str,
    *,
    labels: dict[str, str] | None = None,
    severity: Severity | None = None,
) -> AlertIn:
    """An alert on `system`; its severity given however the test says."""
    return AlertIn(
        labels={"alertname": name, "system": system, **(labels or {})}, severity=severity
    )


async def raise_alerts(rt: Runtime, *alerts: AlertIn) -> None:
    async with rt.session() as session:
        await service.ingest(
            session, list(alerts), source="api", now=utcnow(), settings=rt.settings.alerts, by="mon"
        )
        await lifecycle.commit(session)


async def alert_states(rt: Runtime) -> dict[str, str]:
    async with rt.session(read_only=True) as session:
        return {a.alertname: a.state for a in (await session.scalars(select(AlertRow))).all()}


async def test_a_change_silence_never_mutes_a_critical_or_an_emergency(runtime: Runtime) -> None:
    # The attacker's request: an auto-approved change naming the system where an emergency
    # and a critical are firing, hoping its silence hides them for hours. Some of them fire
    # before the change (the monitoring loop mutes those), some while it runs (ingest mutes
    # those); one emergency is given beside labels that call it a warning.
    gate = GatedAction()
    runtime.actions.register(gate)
    await raise_alerts(
        runtime,
        loud("OldCritical", "db", labels={"severity": "critical"}),
        loud("OldEmergency", "db", severity=Severity.EMERGENCY),
        loud("OldWarning", "db", labels={"severity": "warning"}),
    )
    req = request([("test.gated", {})], affected_systems=["db"], requested_by="alice")
    op = await submit(runtime, req)
    assert op.status is OperationStatus.SCHEDULED  # nobody had to approve it
    driving = asyncio.create_task(drive(runtime))
    await gate.running.wait()
    await raise_alerts(
        runtime,
        loud("NewEmergency", "db", labels={"severity": "warning"}, severity=Severity.EMERGENCY),
        loud("NewCritical", "db", labels={"severity": "critical"}),
        loud("NewWarning", "db"),
        loud("NewInfo", "db", severity=Severity.INFO),
    )
    async with runtime.session() as session:
        await silences.mute_audible(session, now=utcnow())
        await lifecycle.commit(session)

    assert await alert_states(runtime) == {
        "OldCritical": "firing",
        "OldEmergency": "firing",
        "OldWarning": "silenced",
        "NewEmergency": "firing",
        "NewCritical": "firing",
        "NewWarning": "silenced",
        "NewInfo": "silenced",
    }
    # Filed under the requester, on whose word it mutes, not the worker that opened it.
    [silence] = await silences_of(runtime, req.operation_id)
    assert silence.created_by == "alice"
    async with runtime.session(read_only=True) as session:
        [opened] = (
            await session.scalars(
                select(LedgerRow).where(LedgerRow.event == "change_silence_opened")
            )
        ).all()
    assert opened.actor == "alice"
    assert opened.details["opened_by"] != "alice"

    gate.release.set()
    await driving
    assert await verified(runtime) == []


async def test_a_change_silence_ends_when_validation_starts(runtime: Runtime) -> None:
    req = request([("noop", {})], affected_systems=["api"])
    await submit(runtime, req)
    await drive(runtime)
    assert (await load(runtime, req.operation_id)).status == OperationStatus.COMPLETED
    async with runtime.session(read_only=True) as session:
        entries = await select_operation_entries(session, req.operation_id)
    trail = [(e.event, e.to_status or e.details.get("status")) for e in entries]
    ended = trail.index(("change_silence_ended", "validating"))
    assert trail[ended - 1] == ("transition", "validating")
    assert ended < trail.index(("transition", "completed"))
    assert await verified(runtime) == []


async def test_the_audit_sees_a_change_silence_that_no_longer_spares_loud_alerts(
    runtime: Runtime,
) -> None:
    # A database writer drops the matcher that spares critical and emergency alerts.
    req = request([("noop", {})], affected_systems=["api"])
    await submit(runtime, req)
    await drive(runtime)
    [silence] = await silences_of(runtime, req.operation_id)
    assert await verified(runtime) == []
    async with runtime.session() as session:
        row = await session.get(SilenceRow, silence.id)
        assert row is not None
        row.matchers = matchers_for(["api"], spare_loud=False)
        await session.commit()
    assert await verified(runtime) != []
