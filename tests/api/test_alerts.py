"""The alert and silence endpoints through HTTP: bodies, roles, gates, listings, timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.api import Api
from triadops.constitution.ledger import audit
from triadops.domain.clock import FakeClock
from triadops.runtime import Runtime
from triadops.storage.tables import LedgerRow


def alert(name: str = "DiskFull", **fields: Any) -> dict[str, Any]:
    return {"labels": {"alertname": name, **fields.pop("labels", {})}, **fields}


async def post(api: Api, body: Any, *, as_: str = "eve") -> dict[str, Any]:
    response = await api.post("/alerts", as_=as_, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def ids(api: Api, **params: Any) -> list[int]:
    response = await api.get("/alerts", params=params)
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


async def test_one_alert_or_a_batch_is_counted(api: Api) -> None:
    one = await post(api, alert())
    assert (one["received"], one["new"]) == (1, 1)
    batch = await post(
        api, {"alerts": [alert(), alert("Cpu"), alert("Cpu"), alert("Gone", status="resolved")]}
    )
    assert {k: batch[k] for k in ("received", "new", "repeated", "ignored")} == {
        "received": 4,
        "new": 1,
        "repeated": 2,
        "ignored": 1,
    }
    [disk] = (await api.get("/alerts", params={"severity": "warning", "limit": 1})).json()["items"]
    assert disk["alertname"] == "Cpu", "newest first"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"annotations": {}}, "alert.labels"),
        ({"labels": {}}, "alert.labels"),
        ({"labels": {"host": "db1"}}, "alert.labels"),
        (alert(severity="apocalyptic"), "alert.severity"),
        (alert(status="pending"), "alert.status"),
        (alert(labels={"bad-name": "x"}), "alert.labels.bad-name.[key]"),
        (alert(labels={"x": "nul\x00"}), "alert.labels.x"),
        (alert(ends_at="not a time"), "alert.ends_at"),
        (alert(color="red"), "alert.color"),
        ({"alerts": []}, "batch.alerts"),
        ({"alerts": [alert()] * 1001}, "batch.alerts"),
        ({"alerts": [alert(), {"labels": {}}]}, "batch.alerts[1].labels"),
    ],
    ids=[
        "no-labels",
        "empty-labels",
        "no-alertname",
        "severity",
        "status",
        "label-name",
        "nul",
        "time",
        "extra",
        "empty-batch",
        "over-1000",
        "one-bad-in-batch",
    ],
)
async def test_a_malformed_body_is_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/alerts", as_="eve", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["field"] == field
    assert problem["errors"], "each field error is listed"
    assert await ids(api) == [], "a bad alert stores nothing of its batch"


async def test_posting_needs_a_token_and_an_authority(api: Api) -> None:
    assert (await api.client.post("/alerts", json=alert())).status_code == 401
    assert (await api.client.get("/alerts")).status_code == 401
    refused = await api.post("/alerts", as_="viewer", json=alert())
    assert refused.status_code == 403
    assert await ids(api) == []


async def test_listing_filters_and_pages_newest_first(api: Api) -> None:
    await post(
        api,
        {
            "alerts": [
                alert(f"A{n}", severity=severity)
                for n, severity in enumerate(["info", "warning", "critical"] * 4)
            ]
        },
    )
    everything = await ids(api)
    assert everything == sorted(everything, reverse=True) and len(everything) == 12
    critical = await ids(api, severity="critical")
    assert len(critical) == 4
    both = await ids(api, severity=["critical", "info"], state="firing")
    assert len(both) == 8 and both == sorted(both, reverse=True)

    pages: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/alerts", params=params)).json()
        pages += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == everything

    for params in ({"state": "loud"}, {"limit": 0}, {"cursor": "x"}, {"severity": "major"}):
        bad = await api.get("/alerts", params=params)
        assert bad.status_code == 422, params
    assert (await api.get("/alerts/999999")).status_code == 404
    assert (await api.get("/alerts/0")).status_code == 422


async def test_acknowledge_and_resolve_with_their_gates(api: Api, rt: Runtime) -> None:
    await post(api, {"alerts": [alert(), alert("Fire", severity="emergency")]})
    [fire] = await ids(api, severity="emergency")
    [disk] = await ids(api, severity="warning")

    assert (await api.post(f"/alerts/{disk}/ack", as_="viewer")).status_code == 403
    emergency = await api.post(f"/alerts/{fire}/ack", as_="alice")
    assert emergency.status_code == 403
    assert "only the crown" in emergency.json()["detail"]
    assert (await api.post("/alerts/999999/ack", as_="carol")).status_code == 404

    acked = await api.post(f"/alerts/{fire}/ack", as_="carol")
    assert acked.status_code == 200, acked.text
    assert (acked.json()["state"], acked.json()["acknowledged_by"]) == ("acknowledged", "carol")
    assert (await api.post(f"/alerts/{fire}/ack", as_="edward")).status_code == 409

    resolved = await api.post(f"/alerts/{disk}/resolve", as_="judge", json={"reason": "fixed"})
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["state"], resolved.json()["resolved_by"]) == ("resolved", "judge")
    again = await api.post(f"/alerts/{disk}/resolve", as_="alice")
    assert again.status_code == 409
    assert (await api.post(f"/alerts/{disk}/ack", as_="carol")).status_code == 409
    blank = await api.post(f"/alerts/{fire}/resolve", as_="alice", json={"reason": " "})
    assert blank.status_code == 422

    shown = (await api.get(f"/alerts/{disk}")).json()
    assert [(e["event"], e["actor"]) for e in shown["timeline"]] == [
        ("alert_fired", "eve"),
        ("alert_resolved", "judge"),
    ]
    assert shown["timeline"][1]["details"]["reason"] == "fixed"
    assert shown["notifications"] == []
    # The refused attempts are on the record, as every refused governance action is.
    async with rt.session(read_only=True) as session:
        actors = await session.scalars(select(LedgerRow.actor).where(LedgerRow.event == "refused"))
        assert {"viewer", "alice"} <= set(actors)


async def test_silences_mute_list_and_expire(api: Api, clock: FakeClock) -> None:
    await post(api, {"alerts": [alert(labels={"host": "db1"}), alert("Cpu")]})
    body = {
        "matchers": [
            "alertname=DiskFull",
            {"name": "host", "op": "=~", "value": "db[0-9]+"},
            'severity!~"critical|emergency"',
        ],
        "duration_s": 7200,
        "comment": "replacing the disk",
    }
    assert (await api.post("/silences", as_="judge", json=body)).status_code == 403
    assert (await api.post("/silences", as_="viewer", json=body)).status_code == 403
    created = await api.post("/silences", as_="eve", json=body)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["matchers"] == [
        {"name": "alertname", "op": "=", "value": "DiskFull"},
        {"name": "host", "op": "=~", "value": "db[0-9]+"},
        {"name": "severity", "op": "!~", "value": "critical|emergency"},
    ]
    assert (silence["created_by"], silence["active"]) == ("eve", True)
    states = {a["alertname"]: a["state"] for a in (await api.get("/alerts")).json()["items"]}
    assert states == {"DiskFull": "silenced", "Cpu": "firing"}

    listed = (await api.get("/silences")).json()["items"]
    assert [s["id"] for s in listed] == [silence["id"]]
    expired = await api.post(f"/silences/{silence['id']}/expire", as_="bob")
    assert expired.status_code == 200, expired.text
    assert (expired.json()["expired_by"], expired.json()["active"]) == ("bob", False)
    assert (await api.post(f"/silences/{silence['id']}/expire", as_="bob")).status_code == 409
    assert (await api.get("/silences")).json()["items"] == []
    assert len((await api.get("/silences", params={"active": "false"})).json()["items"]) == 1
    states = {a["alertname"]: a["state"] for a in (await api.get("/alerts")).json()["items"]}
    assert states == {"DiskFull": "firing", "Cpu": "firing"}
    unknown = "00000000-0000-0000-0000-000000000000"
    assert (await api.post(f"/silences/{unknown}/expire", as_="bob")).status_code == 404

    # Ends at a time given, within the cap.
    until = (clock.now() + timedelta(hours=1)).astimezone(UTC).isoformat()
    timed = await api.post(
        "/silences", as_="carol", json={"matchers": ["host=db1"], "ends_at": until}
    )
    assert timed.status_code == 201, timed.text
    assert datetime.fromisoformat(timed.json()["ends_at"]) == datetime.fromisoformat(until)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matchers": ["host=~db[("], "duration_s": 60}, "matchers[0]"),
        ({"matchers": ["host"], "duration_s": 60}, "matchers[0]"),
        ({"matchers": [], "duration_s": 60}, "matchers"),
        ({"matchers": ["host=~.*"], "duration_s": 60}, "matchers"),
        ({"matchers": ["host=db1"]}, "duration_s"),
        ({"matchers": ["host=db1"], "duration_s": 31 * 86400}, "duration_s"),
        ({"matchers": ["host=db1"], "duration_s": -5}, "duration_s"),
        ({"matchers": ["host=db1"], "ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
        ({"matchers": ["host=db1"], "ends_at": "2099-01-01T00:00:00"}, "ends_at"),
        ({"matchers": ["host=db1"], "duration_s": 60, "ends_at": "2099-01-01T00:00:00Z"}, None),
    ],
    ids=[
        "bad-regex",
        "not-a-matcher",
        "none",
        "mutes-everything",
        "no-end",
        "past-the-cap",
        "negative",
        "past",
        "naive",
        "both-ends",
    ],
)
async def test_a_bad_silence_is_422_and_stores_nothing(
    api: Api, body: dict[str, Any], field: str | None
) -> None:
    response = await api.post("/silences", as_="eve", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == (field or "duration_s")
    assert (await api.get("/silences", params={"active": "false"})).json()["items"] == []


async def test_a_repeat_from_another_principal_cannot_rewrite_an_alert(
    api: Api, rt: Runtime, clock: FakeClock
) -> None:
    real = alert(
        "Meltdown",
        severity="emergency",
        annotations={"summary": "db1 is down", "runbook": "https://runbooks/db"},
        generator_url="https://prometheus/graph?g0.expr=up",
    )
    await post(api, real, as_="eve")
    forged = {
        **real,
        "annotations": {"summary": "false alarm, ignore", "runbook": "https://evil"},
        "generator_url": "https://evil/graph",
        "ends_at": (clock.now() + timedelta(minutes=1)).isoformat(),
    }
    answer = await post(api, forged, as_="judge")
    assert (answer["repeated"], answer["refused"]) == (1, 0)
    [shown] = (await api.get("/alerts")).json()["items"]
    assert shown["annotations"] == real["annotations"]
    assert shown["generator_url"] == real["generator_url"]
    assert (shown["ends_at"], shown["count"], shown["state"]) == (None, 2, "firing")

    # Its source may say more; the change is on the record, under the source's name.
    await post(api, {**real, "annotations": {"summary": "db1 and db2 are down"}}, as_="eve")
    detail = (await api.get(f"/alerts/{shown['id']}")).json()
    assert detail["annotations"] == {"summary": "db1 and db2 are down"}
    assert [(e["event"], e["actor"]) for e in detail["timeline"]] == [
        ("alert_fired", "eve"),
        ("alert_annotated", "eve"),
    ]
    assert detail["timeline"][1]["details"]["annotations"] == {"summary": "db1 and db2 are down"}
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact and report.discrepancies == []


async def test_a_backtracking_regex_is_linear_and_a_deep_one_is_422(api: Api) -> None:
    # The attacker's silence and alert: with Python's engine each match took ~15 s.
    await post(api, alert(labels={"host": "a" * 36 + "!"}))
    evil = {"matchers": ["alertname=DiskFull", 'host=~"(a+)+b"'], "duration_s": 600}
    created = await api.post("/silences", as_="carol", json=evil)
    assert created.status_code == 201, created.text
    again = await post(api, alert(labels={"host": "a" * 36 + "!"}))
    assert (again["repeated"], again["silenced"]) == (1, 0)
    muted = await post(api, alert(labels={"host": "aaab"}))
    assert (muted["new"], muted["silenced"]) == (1, 1)

    for value in ["(" * 500 + ")" * 500, "(?=a)b", r"(a)\1", "a" * 1001]:
        body = {"matchers": [{"name": "host", "op": "=~", "value": value}], "duration_s": 60}
        for path in ("/silences", "/silences/preview"):
            refused = await api.post(path, as_="carol", json=body)
            assert refused.status_code == 422, (value[:20], refused.text)
            assert refused.json()["field"].startswith("matchers"), refused.json()
    listed = (await api.get("/silences", params={"active": "false"})).json()["items"]
    assert len(listed) == 1


async def test_a_preview_lists_what_a_silence_would_mute_and_who_may_add_it(api: Api) -> None:
    await post(
        api,
        {
            "alerts": [
                alert("Meltdown", severity="emergency", labels={"host": "db1"}),
                alert("Cpu", severity="critical", labels={"host": "db1"}),
                alert("Disk", labels={"host": "db1"}),
                alert("Disk", labels={"host": "web1"}),
            ]
        },
    )
    cases = [
        (["host=db1"], ["crown"], 3, ["info", "warning", "critical", "emergency"]),
        (["host=db1", 'severity!="emergency"'], ["legislative", "crown"], 2, None),
        (
            ['host=~"db.*"', 'severity=~"info|warning"'],
            ["legislative", "executive", "crown"],
            1,
            None,
        ),
    ]
    for matchers, requires, matched, severities in cases:
        shown = await api.post("/silences/preview", as_="eve", json={"matchers": matchers})
        assert shown.status_code == 200, shown.text
        preview = shown.json()
        assert sorted(preview["requires"]) == sorted(requires)
        assert preview["matched"] == len(preview["alerts"]) == matched
        assert preview["allowed"] == ("executive" in requires)
        assert all(a["labels"]["host"] == "db1" for a in preview["alerts"])
        if severities is not None:
            assert preview["severities"] == severities
    assert (await api.get("/silences", params={"active": "false"})).json()["items"] == []
    states = {a["state"] for a in (await api.get("/alerts")).json()["items"]}
    assert states == {"firing"}, "a preview mutes nothing"
    bad = await api.post("/silences/preview", as_="eve", json={"matchers": ["host=~.*"]})
    assert (bad.status_code, bad.json()["field"]) == (422, "matchers")
