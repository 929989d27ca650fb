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
from tests.ops.test_monitor import Switch, timed
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn, Matcher
from triadops.domain.clock import FakeClock, utcnow
from triadops.ops.alerts import engine, matching, service, silences
from triadops.ops.alerts import ingest as ingesting
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
    match, silenced_by = engine.SilenceSet.match, matching.silenced_by

    def spied_match(self: engine.SilenceSet, labels: Mapping[str, str], now: datetime) -> Any:
        found.note()
        return match(self, labels, now)

    def spied_silenced_by(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
        found.note()
        return silenced_by(matchers, labels)

    monkeypatch.setattr(engine.SilenceSet, "match", spied_match)
    monkeypatch.setattr(matching, "silenced_by", spied_silenced_by)
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


async def add_silence(
    rt: Runtime, *matchers: str, now: datetime | None = None, duration_s: float = 3600.0
) -> SilenceRow:
    async with rt.session() as session:
        row = await silences.add_silence(
            session,
            matchers=[Matcher.parse(m) for m in (*matchers, QUIET)],
            comment="maintenance",
            by=ALICE,
            now=now or utcnow(),
            duration_s=duration_s,
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
    prepare = matching.prepare_ingest
    added: list[SilenceRow] = []
    now = utcnow()

    async def prepare_then_silence(*args: Any, **kw: Any) -> matching.Prepared:
        prepared = await prepare(*args, **kw)
        if not added:  # another principal adds a silence between matching and writing
            added.append(await add_silence(runtime, "alertname=Disk", now=now))
        return prepared

    monkeypatch.setattr(ingesting, "prepare_ingest", prepare_then_silence)
    result = await ingest(runtime, alert("Disk", host="db1"), now=now)
    assert (result.new, result.silenced) == (1, 1)
    assert (await states(runtime))["Disk"] == ("silenced", added[0].id)
    assert spy.under_lock == 0


async def test_an_alert_raised_while_a_silence_is_added_is_muted_by_the_alert_cycle(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    plan = matching.plan_add

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


async def test_the_spy_sees_a_match_made_under_the_write_lock(runtime: Runtime, spy: Spy) -> None:
    # What the old ingest did: read in the write session, then match.
    watch(spy, runtime)
    async with runtime.session() as session:
        await session.execute(select(SilenceRow.id).limit(1))
        engine.SilenceSet(()).match({"alertname": "Disk"}, utcnow())
    assert (spy.matches, spy.under_lock) == (1, 1)


async def test_an_alert_that_changed_after_the_plan_is_left_as_it_is(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    await ingest(runtime, alert("Disk", host="db1"), alert("Load", host="db2"))
    plan = matching.plan_add

    async def plan_then_resolve(*args: Any, **kw: Any) -> list[int]:
        planned = await plan(*args, **kw)
        resolved = AlertIn(labels={"alertname": "Load", "host": "db2"}, status="resolved")
        await ingest(runtime, resolved)  # its source resolves it after the plan
        return planned

    monkeypatch.setattr(silences, "plan_add", plan_then_resolve)
    row = await add_silence(runtime, 'host=~"db.*"')
    assert (await states(runtime)) == {"Disk": ("silenced", row.id)}
    async with runtime.session(read_only=True) as session:
        load = (await session.scalars(select(AlertRow).where(AlertRow.alertname == "Load"))).one()
    assert (load.state, load.silence_id) == ("resolved", None), "a resolved alert is not muted"
    assert spy.under_lock == 0


async def test_an_alert_muted_by_an_expiring_silence_after_the_plan_is_planned_again(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    now = utcnow()
    first = await add_silence(runtime, "alertname=Disk", now=now, duration_s=7200.0)
    other = await add_silence(runtime, 'host=~"db.*"', now=now)
    plan = matching.plan_release
    plans = 0

    async def plan_then_raise(*args: Any, **kw: Any) -> matching.Moves:
        nonlocal plans
        moves = await plan(*args, **kw)
        plans += 1
        if plans == 1:  # `first` ends last, so it mutes the new alert: the plan missed it
            await ingest(runtime, alert("Disk", host="db1"), now=now)
        return moves

    monkeypatch.setattr(silences, "plan_release", plan_then_raise)
    async with runtime.session() as session:
        await silences.expire_silence(session, silence_id=first.id, by=ALICE, now=now)
        await lifecycle.commit(session)
    assert plans == 2
    assert (await states(runtime))["Disk"] == ("silenced", other.id), "handed on at once"
    assert spy.under_lock == 0


async def test_when_every_plan_misses_one_it_sounds_and_the_alert_cycle_mutes_it(
    runtime: Runtime, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(spy, runtime)
    now = utcnow()
    first = await add_silence(runtime, "alertname=Disk", now=now, duration_s=7200.0)
    other = await add_silence(runtime, 'host=~"db.*"', now=now)
    plan = matching.plan_release
    raised: list[str] = []

    async def plan_then_raise(*args: Any, **kw: Any) -> matching.Moves:
        moves = await plan(*args, **kw)
        raised.append(f"db{len(raised)}")
        await ingest(runtime, alert("Disk", host=raised[-1]), now=now)  # muted by `first`
        return moves

    monkeypatch.setattr(silences, "plan_release", plan_then_raise)
    async with runtime.session() as session:
        await silences.expire_silence(session, silence_id=first.id, by=ALICE, now=now)
        await lifecycle.commit(session)
    assert len(raised) == silences.PLAN_ATTEMPTS
    async with runtime.session(read_only=True) as session:
        rows = (await session.scalars(select(AlertRow).order_by(AlertRow.id))).all()
        found = [(a.labels["host"], a.state, a.silence_id) for a in rows]
    assert found == [
        *[(host, "silenced", other.id) for host in raised[:-1]],  # the last plan saw them
        (raised[-1], "firing", None),  # it missed this one: it sounds
    ]
    monitor = Monitor(runtime.powers, owner="w1", clock=utcnow, collectors=[])
    await monitor.coordinate(utcnow())
    async with runtime.session(read_only=True) as session:
        rows = (await session.scalars(select(AlertRow))).all()
        assert {(a.state, a.silence_id) for a in rows} == {("silenced", other.id)}
    assert spy.under_lock == 0


async def test_the_health_loop_raises_its_alerts_matched_outside_the_lock(
    runtime: Runtime, spy: Spy
) -> None:
    watch(spy, runtime)
    clock = FakeClock()
    switch = Switch()
    monitor = Monitor(
        timed(runtime, for_s=0, clear_s=0), owner="w1", clock=clock.now, collectors=[switch]
    )
    row = await add_silence(runtime, "alertname=TargetDown", now=clock.now())
    switch.failing = True
    await monitor.tick()  # health check (new), then the alert cycle
    clock.advance(runtime.settings.health.every_s)
    await monitor.tick()  # a repeat
    async with runtime.session(read_only=True) as session:
        found = (await session.scalars(select(AlertRow))).all()
    assert [(a.alertname, a.state, a.silence_id, a.count) for a in found] == [
        ("TargetDown", "silenced", row.id, 2)
    ]
    assert spy.matches > 0
    assert spy.under_lock == 0
