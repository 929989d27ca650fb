"""Alerts in the database: dedup, races, silences, expiry, gates, ledger and its replay.

Every test runs on SQLite and on PostgreSQL; time is passed in (``now``), never slept.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Executable, delete, select, update

from tests.fixtures.pipeline import ALICE, BOB, CAROL, JUDGE
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.domain.alerts import AlertIn, Matcher
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from triadops.domain.identity import Identity
from triadops.ops.alerts import dispatch, events, service, silences
from triadops.runtime import Runtime
from triadops.storage import alerts as store
from triadops.storage.tables import AlertGroupRow, AlertRow, LedgerRow, SilenceRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VIEWER = Identity(name="vera", roles=frozenset({Role.VIEWER}))
EVE = Identity(name="eve", roles=frozenset({Role.EXECUTIVE}))
QUIET = 'severity=~"info|warning"'
"""A matcher that leaves critical and emergency alerts out: any silencer may add it."""


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def alert(name: str = "DiskFull", **fields: Any) -> AlertIn:
    return AlertIn(labels={"alertname": name, **fields.pop("labels", {})}, **fields)


async def ingest(
    rt: Runtime, *alerts: AlertIn, now: datetime = NOW, source: str = "api", by: str = "alice"
) -> service.IngestResult:
    async with rt.session() as session:
        result = await service.ingest(
            session, list(alerts), source=source, now=now, settings=rt.settings.alerts, by=by
        )
        await lifecycle.commit(session)
    return result


async def rows(rt: Runtime) -> list[AlertRow]:
    """Every alert, by name and then id (a batch's new rows are stored in fingerprint order)."""
    async with rt.session(read_only=True) as session:
        found = await session.scalars(select(AlertRow).order_by(AlertRow.alertname, AlertRow.id))
        return list(found.all())


async def entries(rt: Runtime, alert_id: int) -> list[tuple[str, str, str | None]]:
    async with rt.session(read_only=True) as session:
        return [
            (e.event, e.actor, e.details.get("state"))
            for e in await store.alert_entries(session, alert_id)
        ]


async def findings(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def tamper(rt: Runtime, *statements: Executable) -> None:
    async with rt.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def add_silence(rt: Runtime, *matchers: str, now: datetime = NOW, **kw: Any) -> SilenceRow:
    async with rt.session() as session:
        row = await silences.add_silence(
            session,
            matchers=[Matcher.parse(m) for m in matchers],
            comment="maintenance",
            by=kw.pop("by", ALICE),
            now=now,
            **(kw if {"duration_s", "ends_at"} & set(kw) else {"duration_s": 3600.0, **kw}),
        )
        await lifecycle.commit(session)
    return row


async def test_a_repeat_raises_count_and_last_seen_not_a_new_row(runtime: Runtime) -> None:
    first = await ingest(runtime, alert(), alert(labels={"host": "b"}), alert())
    assert (first.received, first.new, first.repeated) == (3, 2, 1)
    second = await ingest(runtime, alert(annotations={"summary": "99%"}), now=at(5))
    assert (second.new, second.repeated) == (0, 1)

    stored = await rows(runtime)
    assert len(stored) == 2
    [disk] = [r for r in stored if "host" not in r.labels]
    assert (disk.count, disk.state, disk.source) == (3, "firing", "api")
    assert (disk.starts_at, disk.last_seen) == (NOW, at(5))
    assert disk.annotations == {"summary": "99%"}
    # The firing is a ledger event, and so is its source's change of what it says; a mere
    # repeat is not.
    assert await entries(runtime, disk.id) == [
        ("alert_fired", "alice", "firing"),
        ("alert_annotated", "alice", "firing"),
    ]
    async with runtime.session(read_only=True) as session:
        group = await session.get(AlertGroupRow, disk.group_key)
    assert group is not None and group.labels == {"alertname": "DiskFull"}
    assert group.next_flush_at == NOW + timedelta(seconds=runtime.settings.alerts.group_wait_s)
    assert await findings(runtime) == []


async def test_a_resolved_alert_firing_again_opens_a_new_row(runtime: Runtime) -> None:
    await ingest(runtime, alert())
    resolved = await ingest(runtime, alert(status="resolved"), now=at(1))
    ignored = await ingest(runtime, alert(status="resolved"), now=at(2))
    assert (resolved.resolved, ignored.ignored) == (1, 1)
    await ingest(runtime, alert(), now=at(3))

    old, new = await rows(runtime)
    assert (old.state, old.resolved_at, old.resolved_by) == ("resolved", at(1), "alice")
    assert (new.state, new.count, new.starts_at) == ("firing", 1, at(3))
    assert old.fingerprint == new.fingerprint
    assert await entries(runtime, old.id) == [
        ("alert_fired", "alice", "firing"),
        ("alert_resolved", "alice", "resolved"),
    ]
    assert await findings(runtime) == []


async def test_fired_and_resolved_in_one_batch_is_stored_resolved(runtime: Runtime) -> None:
    result = await ingest(runtime, alert(), alert(status="resolved"), alert())
    assert (result.new, result.resolved) == (2, 1)
    first, second = await rows(runtime)
    assert (first.state, second.state) == ("resolved", "firing")
    assert await findings(runtime) == []


async def test_two_ingests_of_the_same_new_alert_store_one_row(
    runtime: Runtime, database_url: str
) -> None:
    """Two writers (sessions of one process, and on PostgreSQL two engines) race."""
    other = runtime
    if database_url.startswith("postgresql"):
        other = await Runtime.open(runtime.settings, migrate=False)
    try:
        for round_ in range(8):
            batch = [alert(f"Race{round_}", labels={"n": str(n)}) for n in range(3)]
            results = await asyncio.gather(
                ingest(runtime, *batch, now=at(round_)), ingest(other, *batch, now=at(round_))
            )
            assert sorted(r.new for r in results) == [0, 3]
            assert sorted(r.repeated for r in results) == [0, 3]
    finally:
        if other is not runtime:
            await other.close()
    stored = await rows(runtime)
    assert len(stored) == 24
    assert {r.count for r in stored} == {2}
    for row in stored:
        assert [e for e, _, _ in await entries(runtime, row.id)] == ["alert_fired"]
    assert await findings(runtime) == []


async def test_one_row_the_database_refuses_fails_alone(
    runtime: Runtime, database_url: str
) -> None:
    # PostgreSQL cannot store NUL in JSON; SQLite can. The API refuses it earlier (422);
    # here it stands for any row the database refuses.
    result = await ingest(runtime, alert("A"), alert("B", labels={"x": "a\x00b"}), alert("C"))
    postgres = database_url.startswith("postgresql")
    assert (result.new, result.failed) == ((2, 1) if postgres else (3, 0))
    assert [r.alertname for r in await rows(runtime)] == (  # by name
        ["A", "C"] if postgres else ["A", "B", "C"]
    )
    assert await findings(runtime) == []


async def test_a_silence_mutes_at_once_and_its_expiry_unmutes(runtime: Runtime) -> None:
    await ingest(runtime, alert("Db1", labels={"host": "db1"}), alert("Web1", labels={"host": "w"}))
    db1, web1 = await rows(runtime)
    async with runtime.session() as session:
        await service.acknowledge(session, alert_id=db1.id, by=ALICE, now=NOW)
        await lifecycle.commit(session)

    sil = await add_silence(runtime, "host=~db.*", QUIET)
    db1, web1 = await rows(runtime)
    assert (db1.state, db1.silence_id, web1.state) == ("silenced", sil.id, "firing")
    # A new alert the silence matches is muted as it arrives.
    result = await ingest(runtime, alert("Db2", labels={"host": "db2"}), now=at(1))
    assert (result.new, result.silenced) == (1, 1)
    assert (await rows(runtime))[1].state == "silenced"

    async with runtime.session() as session:
        await silences.expire_silence(session, silence_id=sil.id, by=EVE, now=at(2))
        await lifecycle.commit(session)
    db1, db2, web1 = await rows(runtime)
    # Each goes back to where it stood: acknowledged, or firing.
    assert (db1.state, db2.state) == ("acknowledged", "firing")
    assert db1.silence_id is db2.silence_id is None
    assert await entries(runtime, db1.id) == [
        ("alert_fired", "alice", "firing"),
        ("alert_acknowledged", "alice", "acknowledged"),
        ("alert_silenced", "alice", "silenced"),
        ("alert_unsilenced", "eve", "acknowledged"),
    ]
    with pytest.raises(Conflict):
        async with runtime.session() as session:
            await silences.expire_silence(session, silence_id=sil.id, by=EVE, now=at(3))
    assert await findings(runtime) == []


async def test_an_expired_silence_hands_its_alerts_to_another_that_covers_them(
    runtime: Runtime,
) -> None:
    await ingest(runtime, alert(labels={"host": "db1"}))
    short = await add_silence(runtime, "host=db1", QUIET, duration_s=600)
    long = await add_silence(runtime, "alertname=DiskFull", QUIET, duration_s=7200)
    [row] = await rows(runtime)
    assert row.silence_id == short.id, "a muted alert keeps its silence"

    async with runtime.session(read_only=True) as session:
        assert await service.housekeeping_due(session, now=at(9)) is False
        assert await service.housekeeping_due(session, now=at(10)) is True
    async with runtime.session() as session:  # housekeep matches before it begins
        done = await service.housekeep(session, now=at(10))
        await lifecycle.commit(session)
    assert (done.expired, done.unmuted) == (1, 0)
    [row] = await rows(runtime)
    assert (row.state, row.silence_id) == ("silenced", long.id)
    async with runtime.session(read_only=True) as session:
        expired = await store.get_silence(session, short.id)
    assert (expired.expired_at, expired.expired_by) == (at(10), events.MONITOR)
    assert await findings(runtime) == []


async def test_every_silence_ends_and_none_mutes_everything(runtime: Runtime) -> None:
    cap = runtime.settings.alerts.max_silence_s
    for kw, field in [
        ({"duration_s": cap + 1}, "duration_s"),
        ({"ends_at": at(-1)}, "ends_at"),
        ({"duration_s": None}, "duration_s"),
        ({"duration_s": 60.0, "ends_at": at(5)}, "duration_s"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            await add_silence(runtime, "host=db1", max_duration_s=cap, **kw)
        assert refused.value.field == field
    with pytest.raises(InvalidRequest, match="every alert"):
        await add_silence(runtime, "alertname=~.*", "host!=x")
    with pytest.raises(Forbidden):
        await add_silence(runtime, "host=db1", by=JUDGE)
    with pytest.raises(Forbidden):
        await add_silence(runtime, "host=db1", by=VIEWER)
    async with runtime.session(read_only=True) as session:
        assert await store.list_silences(session, now=NOW, active_only=False, limit=10) == []


async def test_an_ends_at_that_passes_resolves_the_alert(runtime: Runtime) -> None:
    await ingest(runtime, alert(ends_at=at(10)), alert("Other"))
    async with runtime.session(read_only=True) as session:
        assert await service.housekeeping_due(session, now=at(5)) is False
    async with runtime.session() as session:  # housekeep matches before it begins
        done = await service.housekeep(session, now=at(11))
        await lifecycle.commit(session)
    assert done.resolved == 1
    ended, other = await rows(runtime)
    assert (ended.state, ended.resolved_at, ended.resolved_by) == (
        "resolved",
        at(10),
        events.MONITOR,
    )
    assert other.state == "firing"
    assert await findings(runtime) == []


async def test_auto_resolve_closes_what_a_source_no_longer_raises(runtime: Runtime) -> None:
    cpu, disk = alert("HighCpu"), alert("DiskFull")
    fire = alert("Meltdown", severity="emergency")
    await ingest(runtime, cpu, disk, fire, source="health", by=events.MONITOR)
    await ingest(runtime, alert("Posted"), source="api")
    async with runtime.session() as session:
        resolved = await service.auto_resolve(
            session, source="health", present={disk.fingerprint}, now=at(1)
        )
        await lifecycle.commit(session)
    states = {r.alertname: r.state for r in await rows(runtime)}
    # An emergency waits for the crown, even when its own source stops raising it.
    assert states == {
        "HighCpu": "resolved",
        "DiskFull": "firing",
        "Meltdown": "firing",
        "Posted": "firing",
    }
    assert len(resolved) == 1
    assert await entries(runtime, resolved[0]) == [
        ("alert_fired", events.MONITOR, "firing"),
        ("alert_resolved", events.MONITOR, "resolved"),
    ]


async def _handle(
    rt: Runtime, what: str, alert_id: int, by: Identity, now: datetime = NOW
) -> AlertRow:
    async with rt.session() as session:
        if what == "ack":
            row = await service.acknowledge(session, alert_id=alert_id, by=by, now=now)
        else:
            row = await service.resolve(session, alert_id=alert_id, by=by, now=now, reason="fixed")
        await lifecycle.commit(session)
    return row


async def test_gates_on_acknowledge_and_resolve(runtime: Runtime) -> None:
    await ingest(runtime, alert(), alert("Fire", severity="emergency"))
    disk, fire = await rows(runtime)
    # The attackers: a viewer, a non-crown on an emergency, an unknown id.
    with pytest.raises(Forbidden):
        await _handle(runtime, "ack", disk.id, VIEWER)
    with pytest.raises(Forbidden):
        await _handle(runtime, "resolve", disk.id, VIEWER)
    with pytest.raises(Forbidden, match="only the crown"):
        await _handle(runtime, "ack", fire.id, ALICE)
    with pytest.raises(NotFound):
        await _handle(runtime, "ack", 999_999, CAROL)
    assert [(r.state, r.acknowledged_by) for r in await rows(runtime)] == [
        ("firing", None),
        ("firing", None),
    ]

    assert (await _handle(runtime, "ack", fire.id, CAROL)).state == "acknowledged"
    await _handle(runtime, "ack", disk.id, JUDGE)
    with pytest.raises(Conflict, match="already acknowledged by judy"):
        await _handle(runtime, "ack", disk.id, BOB)
    resolved = await _handle(runtime, "resolve", disk.id, BOB, at(1))
    assert (resolved.state, resolved.resolved_by, resolved.resolved_at) == (
        "resolved",
        "bob",
        at(1),
    )
    with pytest.raises(Conflict, match="resolved by bob"):
        await _handle(runtime, "resolve", disk.id, ALICE)
    with pytest.raises(Conflict):
        await _handle(runtime, "ack", disk.id, CAROL)

    async with runtime.session(read_only=True) as session:
        [*_, last] = await store.alert_entries(session, disk.id)
    assert (last.event, last.actor, last.details) == (
        "alert_resolved",
        "bob",
        {"alert": disk.id, "state": "resolved", "reason": "fixed"},
    )
    assert await entries(runtime, fire.id) == [
        ("alert_fired", "alice", "firing"),
        ("alert_acknowledged", "carol", "acknowledged"),
    ]
    assert await findings(runtime) == []


async def test_verify_names_a_tampered_alert_or_silence(runtime: Runtime) -> None:
    await ingest(runtime, alert(), alert("Cpu"), alert("Mem"), alert("Net"))
    cpu, disk, mem, net = await rows(runtime)
    await _handle(runtime, "ack", cpu.id, EVE)
    sil = await add_silence(runtime, "alertname=Net", QUIET)
    assert await findings(runtime) == []

    await tamper(
        runtime,
        update(AlertRow).where(AlertRow.id == disk.id).values(state="resolved"),
        update(AlertRow).where(AlertRow.id == cpu.id).values(acknowledged_by="mallory"),
        update(AlertRow).where(AlertRow.id == mem.id).values(labels={"alertname": "Other"}),
        delete(AlertRow).where(AlertRow.id == net.id),
        update(SilenceRow).where(SilenceRow.id == sil.id).values(ends_at=at(60 * 24 * 365)),
    )
    async with runtime.session() as session:
        session.add(
            AlertRow(
                fingerprint="f" * 32,
                alertname="Forged",
                state="firing",
                severity="info",
                labels={"alertname": "Forged"},
                annotations={},
                source="api",
                group_key="{}",
                count=1,
                starts_at=NOW,
                last_seen=NOW,
            )
        )
        await session.commit()
    forged = max(r.id for r in (cpu, disk, mem, net)) + 1
    assert sorted(await findings(runtime)) == sorted(
        [
            f"alert {disk.id}: stored state resolved but the ledger's last entry says firing",
            f"alert {cpu.id}: stored acknowledgement by mallory but the ledger records one by eve",
            f"alert {mem.id}: stored labels do not hash to its fingerprint (edited)",
            f"alert {forged}: stored but never fired in the ledger (inserted)",
            f"alert {net.id}: in the ledger but not stored (deleted)",
            f"silence {sil.id}: stored end {at(60 * 24 * 365)} but the ledger recorded "
            f"{sil.ends_at}",
        ]
    )


async def test_verify_names_an_alert_whose_source_was_rewritten(runtime: Runtime) -> None:
    # Who raised an alert decides who may resolve it by posting: an edit is a finding.
    await ingest(runtime, alert(), by="alice")
    [row] = await rows(runtime)
    assert row.raised_by == "alice"
    await tamper(runtime, update(AlertRow).where(AlertRow.id == row.id).values(raised_by="mallory"))
    assert await findings(runtime) == [
        f"alert {row.id}: stored as raised by mallory but the ledger says alice"
    ]
    refused = await ingest(runtime, alert(status="resolved"), by="alice")
    assert (refused.refused, refused.resolved) == (1, 0)


async def test_a_ledger_without_the_alert_entries_is_caught(runtime: Runtime) -> None:
    await ingest(runtime, alert())
    [row] = await rows(runtime)
    # Resolved by hand in the database: no alert_resolved entry explains it.
    await tamper(
        runtime,
        update(AlertRow)
        .where(AlertRow.id == row.id)
        .values(state="resolved", resolved_by="mallory", resolved_at=NOW),
    )
    assert await findings(runtime) == [
        f"alert {row.id}: stored state resolved but the ledger's last entry says firing",
        f"alert {row.id}: stored resolution by mallory but the ledger records one by nobody",
    ]
    async with runtime.session(read_only=True) as session:
        subject = store.alert_subject(row.id)
        filed = await session.scalars(
            select(LedgerRow.event).where(LedgerRow.operation_id == subject)
        )
        assert list(filed) == ["alert_fired"]


async def test_escalation_reopening_a_quiet_acknowledgement_replays_clean(
    runtime: Runtime,
) -> None:
    await ingest(runtime, alert())
    [row] = await rows(runtime)
    await _handle(runtime, "ack", row.id, EVE)
    quiet = runtime.settings.alerts.ack_quiet_s
    async with runtime.session() as session:
        assert await dispatch.escalate(
            session, now=at(quiet / 60 + 1), settings=runtime.settings.alerts
        )
        await lifecycle.commit(session)
    [row] = await rows(runtime)
    assert (row.state, row.acknowledged_by) == ("firing", None)
    assert await findings(runtime) == []
    # Taken again, by someone else: that acknowledgement is the one the ledger vouches for.
    await _handle(runtime, "ack", row.id, CAROL, at(quiet / 60 + 2))
    assert await findings(runtime) == []
