"""Only the crown ends an emergency: every door of that promise, tried with ordinary tokens.

The doors, and where each is tried:

- acknowledge (``POST /alerts/{id}/ack``): here.
- resolve by hand (``POST /alerts/{id}/resolve``): here.
- repost as resolved (``POST /alerts`` and Alertmanager's webhook with status resolved): here.
- repost with ``ends_at`` in the past (the same labels, an end already passed): here.
- silence, direct (``POST /silences``): here.
- change silence (a change-linked silence opened for an operation):
  tests/constitution/test_change_silences.py.
- housekeeping ``ends_at`` (the monitor's pass over alerts whose end passed): here.

Each door is tried through HTTP with the real tokens of each authority (tests.fixtures.api),
on SQLite and on PostgreSQL: the emergency must still be unresolved and audible afterwards,
and only the crown's own request ends it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.fixtures.api import Api
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.domain.clock import FakeClock
from triadops.ops.alerts import service
from triadops.runtime import Runtime

FIRE = {"alertname": "Meltdown", "host": "db1"}


def emergency(**fields: Any) -> dict[str, Any]:
    return {"labels": dict(FIRE), "severity": "emergency", **fields}


async def raise_emergency(api: Api, *, as_: str = "eve", **fields: Any) -> dict[str, Any]:
    answer = await api.post("/alerts", as_=as_, json=emergency(**fields))
    assert answer.status_code == 200, answer.text
    assert answer.json()["new"] == 1
    [shown] = (await api.get("/alerts", params={"severity": "emergency"})).json()["items"]
    assert shown["state"] == "firing"
    return dict(shown)


async def current(api: Api, alert_id: int) -> dict[str, Any]:
    response = await api.get(f"/alerts/{alert_id}")
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def still_firing(api: Api, alert_id: int) -> None:
    shown = await current(api, alert_id)
    assert (shown["state"], shown["resolved_by"], shown["silence_id"]) == ("firing", None, None)
    assert [e["event"] for e in shown["timeline"]] == ["alert_fired"]


async def verified(rt: Runtime) -> None:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact, report.problem
    assert [str(d) for d in report.discrepancies] == []


async def test_acknowledge_is_the_crowns(api: Api) -> None:
    fire = await raise_emergency(api)
    for who in ("judge", "eve", "alice", "bob"):
        refused = await api.post(f"/alerts/{fire['id']}/ack", as_=who)
        assert refused.status_code == 403, (who, refused.text)
    await still_firing(api, fire["id"])
    taken = await api.post(f"/alerts/{fire['id']}/ack", as_="carol")
    assert (taken.status_code, taken.json()["acknowledged_by"]) == (200, "carol")


async def test_resolve_by_hand_is_the_crowns(api: Api, rt: Runtime) -> None:
    fire = await raise_emergency(api)
    for who in ("judge", "eve", "alice", "bob"):
        refused = await api.post(f"/alerts/{fire['id']}/resolve", as_=who, json={"reason": "ok"})
        assert refused.status_code == 403, (who, refused.text)
        assert "only the crown may resolve it" in refused.json()["detail"]
    await still_firing(api, fire["id"])

    # A warning is still anyone's to close: the gate is the emergency's.
    await api.post("/alerts", as_="eve", json={"labels": {"alertname": "DiskFull"}})
    [disk] = (await api.get("/alerts", params={"severity": "warning"})).json()["items"]
    assert (await api.post(f"/alerts/{disk['id']}/resolve", as_="judge")).status_code == 200

    ended = await api.post(f"/alerts/{fire['id']}/resolve", as_="carol", json={"reason": "ok"})
    assert ended.status_code == 200, ended.text
    assert (ended.json()["state"], ended.json()["resolved_by"]) == ("resolved", "carol")
    await verified(rt)


async def test_repost_as_resolved_needs_the_source_and_for_an_emergency_the_crown(
    api: Api, rt: Runtime
) -> None:
    fire = await raise_emergency(api)
    await api.post("/alerts", as_="eve", json={"labels": {"alertname": "DiskFull"}})
    # Another principal, and even the source, cannot end the emergency by posting; in a
    # batch, the refused resolution fails alone and the rest is kept.
    for who in ("judge", "eve"):
        batch = {
            "alerts": [
                emergency(status="resolved"),
                {"labels": {"alertname": "Cpu"}},
            ]
        }
        answer = await api.post("/alerts", as_=who, json=batch)
        assert answer.status_code == 200, answer.text
        counted = answer.json()
        assert (counted["refused"], counted["resolved"]) == (1, 0), counted
        why = "did not raise" if who == "judge" else "only the crown may resolve it"
        assert [why in r for r in counted["refusals"]] == [True], counted["refusals"]
    await still_firing(api, fire["id"])
    firing = {a["alertname"] for a in (await api.get("/alerts")).json()["items"]}
    assert firing == {"Meltdown", "DiskFull", "Cpu"}

    # A warning: only its source may end it by posting.
    judged = await api.post(
        "/alerts", as_="judge", json={"labels": {"alertname": "DiskFull"}, "status": "resolved"}
    )
    assert (judged.json()["refused"], judged.json()["resolved"]) == (1, 0)
    own = await api.post(
        "/alerts", as_="eve", json={"labels": {"alertname": "DiskFull"}, "status": "resolved"}
    )
    assert (own.json()["refused"], own.json()["resolved"]) == (0, 1)

    # The crown ends an emergency it raised by posting it resolved.
    await api.post("/alerts", as_="carol", json={**emergency(), "labels": {"alertname": "Flood"}})
    done = await api.post(
        "/alerts",
        as_="carol",
        json={**emergency(status="resolved"), "labels": {"alertname": "Flood"}},
    )
    assert (done.json()["refused"], done.json()["resolved"]) == (0, 1)
    await verified(rt)


def alertmanager(status: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "status": status,
        "receiver": "triad",
        "alerts": [
            {
                "status": status,
                "labels": {**FIRE, "severity": "emergency"},
                "startsAt": "2026-02-06T13:00:00Z",
                "endsAt": "2026-02-06T13:20:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
            }
        ],
    }


async def test_alertmanager_resolves_only_its_own_and_never_an_emergency(api: Api) -> None:
    raised = await api.post("/alerts/alertmanager", as_="eve", json=alertmanager("firing"))
    assert raised.json()["new"] == 1, raised.text
    [fire] = (await api.get("/alerts", params={"severity": "emergency"})).json()["items"]
    for who in ("judge", "eve"):
        answer = await api.post("/alerts/alertmanager", as_=who, json=alertmanager("resolved"))
        assert answer.status_code == 200, answer.text
        assert (answer.json()["refused"], answer.json()["resolved"]) == (1, 0)
    await still_firing(api, fire["id"])


async def test_repost_with_an_end_in_the_past_does_not_end_it(api: Api, clock: FakeClock) -> None:
    fire = await raise_emergency(api)
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    for who in ("judge", "eve"):
        answer = await api.post("/alerts", as_=who, json=emergency(ends_at=past))
        assert answer.status_code == 200, answer.text
        assert (answer.json()["refused"], answer.json()["resolved"]) == (1, 0)
    shown = await current(api, fire["id"])
    assert (shown["state"], shown["ends_at"], shown["count"]) == ("firing", None, 1)


async def test_a_silence_that_can_mute_an_emergency_is_the_crowns(api: Api, rt: Runtime) -> None:
    fire = await raise_emergency(api)
    await api.post(
        "/alerts", as_="eve", json={"labels": {"alertname": "Cpu"}, "severity": "critical"}
    )
    month = 30 * 86400
    for matchers in (
        ["severity=emergency"],
        ["alertname=Meltdown"],
        # The label says info, but the alert escalates as an emergency: silences see that.
        ["alertname=Meltdown", "severity=info"],
        ['severity=~"crit.*|emer.*"'],
    ):
        for who in ("eve", "alice", "bob"):
            body = {"matchers": matchers, "duration_s": month}
            refused = await api.post("/silences", as_=who, json=body)
            if matchers == ["alertname=Meltdown", "severity=info"]:
                # Cannot match an emergency (nor a critical): any silencer may add it.
                assert refused.status_code == 201, refused.text
                continue
            assert refused.status_code == 403, (who, matchers, refused.text)
            assert refused.json()["field"] == "matchers"
    await still_firing(api, fire["id"])

    # A critical alert is the legislature's to mute, and the crown's.
    critical = {"matchers": ["alertname=Cpu", 'severity!="emergency"'], "duration_s": 600}
    assert (await api.post("/silences", as_="eve", json=critical)).status_code == 403
    assert (await api.post("/silences", as_="bob", json=critical)).status_code == 201

    muted = await api.post(
        "/silences", as_="carol", json={"matchers": ["severity=emergency"], "duration_s": 600}
    )
    assert muted.status_code == 201, muted.text
    assert (await current(api, fire["id"]))["state"] == "silenced"
    await verified(rt)


async def test_housekeeping_never_ends_an_emergency_by_its_end(
    api: Api, rt: Runtime, clock: FakeClock
) -> None:
    soon = (clock.now() + timedelta(minutes=5)).isoformat()
    fire = await raise_emergency(api, ends_at=soon)
    await api.post("/alerts", as_="eve", json={"labels": {"alertname": "Disk"}, "ends_at": soon})
    later = clock.now() + timedelta(minutes=10)
    async with rt.session() as session:
        done = await service.housekeep(session, now=later)
        await lifecycle.commit(session)
    assert done.resolved == 1, "the warning's end passed; the emergency waits for the crown"
    async with rt.session(read_only=True) as session:
        assert not await service.housekeeping_due(session, now=later + timedelta(hours=1))
    shown = await current(api, fire["id"])
    assert (shown["state"], shown["resolved_by"]) == ("firing", None)
