"""Silences are matched outside the write lock: on every path, on both databases.

A spy wraps the two places a regex runs (`SilenceSet.match`, `silenced_by`) and notes, at
each call, how many write transactions are open on the database's engine (SQLite: one is
``BEGIN IMMEDIATE``, the write lock; PostgreSQL: rows ``FOR UPDATE``). Read-only sessions
(``triad_read_only``) do not count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from tests.fixtures.api import Api
from tests.fixtures.pipeline import ALICE
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn, Matcher
from triadops.domain.clock import utcnow
from triadops.ops.alerts import engine, service, silences
from triadops.ops.monitor import Monitor
from triadops.runtime import Runtime
from triadops.storage.engine import READ_ONLY
from triadops.storage.tables import AlertRow, SilenceRow

QUIET = 'severity=~"info|warning"'
"""Leaves critical and emergency alerts out: any silencer may add the silence."""


class Spy:
    """Counts regex matches, and those made while a write transaction was open."""

    def __init__(self) -> None:
        self.writing: set[int] = set()
        self.matches = 0
        self.under_lock = 0

    def note(self) -> None:
        self.matches += 1
        self.under_lock += bool(self.writing)

    def begin(self, conn: Any) -> None:
        if not conn.get_execution_options().get(READ_ONLY):
            self.writing.add(id(conn))

    def end(self, conn: Any) -> None:
        self.writing.discard(id(conn))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    found = Spy()
    match, silenced_by = engine.SilenceSet.match, silences.silenced_by

    def spied_match(self: engine.SilenceSet, labels: Mapping[str, str], now: datetime) -> Any:
        found.note()
        return match(self, labels, now)

    def spied_silenced_by(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
        found.note()
        return silenced_by(matchers, labels)

    monkeypatch.setattr(engine.SilenceSet, "match", spied_match)
    monkeypatch.setattr(silences, "silenced_by", spied_silenced_by)
    yield found


def watch(spy: Spy, rt: Runtime) -> None:
    sync = rt.engine.sync_engine
    event.listen(sync, "begin", spy.begin)
    event.listen(sync, "commit", spy.end)
    event.listen(sync, "rollback", spy.end)


def alert(name: str, **labels: str) -> AlertIn:
    return AlertIn(labels={"alertname": name, **labels})


async def ingest(
    rt: Runtime, *alerts: AlertIn, now: datetime | None = None
) -> service.IngestResult:
    async with rt.session() as session:
        result = await service.ingest(
            session, list(alerts), source="api", now=now or utcnow(), settings=rt.settings.alerts
        )
        await lifecycle.commit(session)
    return result


async def add_silence(rt: Runtime, *matchers: str, now: datetime | None = None) -> SilenceRow:
    async with rt.session() as session:
        row = await silences.add_silence(
            session,
            matchers=[Matcher.parse(m) for m in (*matchers, QUIET)],
            comment="maintenance",
            by=ALICE,
            now=now or utcnow(),
            duration_s=3600.0,
        )
        await lifecycle.commit(session)
    return row


async def states(rt: Runtime) -> dict[str, tuple[str, str | None]]:
    async with rt.session(read_only=True) as session:
        rows = (await session.scalars(select(AlertRow).where(AlertRow.state != "resolved"))).all()
        return {a.alertname: (a.state, a.silence_id) for a in rows}


async def test_posted_alerts_are_matched_before_the_write_lock(
    api: Api, rt: Runtime, spy: Spy
) -> None:
    watch(spy, rt)
    body = {"matchers": ['host=~"db[0-9]+"', 'severity=~"info|warning"'], "duration_s": 600}
    created = await api.post("/silences", as_="eve", json={**body, "comment": "upgrade"})
    assert created.status_code == 201, created.text
    silence = created.json()["id"]
    for _ in range(2):  # new, then a repeat
        posted = await api.post(
            "/alerts", as_="eve", json={"labels": {"alertname": "Disk", "host": "db1"}}
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["silenced"] == 1
    inbound = {
        "version": "4",
        "groupKey": "{}:{}",
        "receiver": "triad",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Load", "host": "db2"}}],
    }
    answer = await api.post("/alerts/alertmanager", as_="eve", json=inbound)
    assert answer.status_code == 200, answer.text
    assert answer.json()["silenced"] == 1
    expired = await api.post(f"/silences/{silence}/expire", as_="eve")
    assert expired.status_code == 200, expired.text
    assert {s for s, _ in (await states(rt)).values()} == {"firing"}
    assert spy.matches > 0
    assert spy.under_lock == 0, "a silence was matched while the write lock was held"


async def test_adding_and_expiring_hand_alerts_on_without_matching_under_the_lock(
    runtime: Runtime, spy: Spy
) -> None:
    watch(spy, runtime)
    await ingest(runtime, alert("Disk", host="db1"), alert("Load", host="web1"))
    long = await add_silence(runtime, "alertname=Disk")
    short = await add_silence(runtime, 'host=~"db.*"')
    assert (await states(runtime))["Disk"] == ("silenced", long.id), "it keeps its silence"
    async with runtime.session() as session:
        await silences.expire_silence(session, silence_id=long.id, by=ALICE, now=utcnow())
        await lifecycle.commit(session)
    assert (await states(runtime))["Disk"] == ("silenced", short.id), "handed to the other"
    assert (await states(runtime))["Load"] == ("firing", None)
    assert spy.matches > 0
    assert spy.under_lock == 0


async def test_a_silence_added_while_a_batch_is_matched_makes_ingest_match_again(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    prepare = service.prepare_ingest
    added: list[SilenceRow] = []
    now = utcnow()

    async def prepare_then_silence(*args: Any, **kw: Any) -> service.Prepared:
        prepared = await prepare(*args, **kw)
        if not added:  # another principal adds a silence between matching and writing
            added.append(await add_silence(runtime, "alertname=Disk", now=now))
        return prepared

    monkeypatch.setattr(service, "prepare_ingest", prepare_then_silence)
    result = await ingest(runtime, alert("Disk", host="db1"), now=now)
    assert (result.new, result.silenced) == (1, 1)
    assert (await states(runtime))["Disk"] == ("silenced", added[0].id)
    assert spy.under_lock == 0


async def test_an_alert_raised_while_a_silence_is_added_is_muted_by_the_alert_cycle(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    plan = silences.plan_add

    async def plan_then_raise(*args: Any, **kw: Any) -> list[int]:
        planned = await plan(*args, **kw)
        await ingest(runtime, alert("Disk", host="db9"))  # after the plan, before the write
        return planned

    monkeypatch.setattr(silences, "plan_add", plan_then_raise)
    row = await add_silence(runtime, 'host=~"db.*"')
    assert (await states(runtime))["Disk"] == ("firing", None), "the plan did not see it"
    monitor = Monitor(runtime.powers, owner="w1", clock=utcnow, collectors=[])
    await monitor.coordinate(utcnow())
    assert (await states(runtime))["Disk"] == ("silenced", row.id)
    # and a repeat or a new alert is matched by ingest against the silence in force
    monkeypatch.setattr(silences, "plan_add", plan)
    result = await ingest(runtime, alert("Disk", host="db9"), alert("Disk", host="db8"))
    assert (result.new, result.repeated, result.silenced) == (1, 1, 2)
    assert spy.matches > 0
    assert spy.under_lock == 0
