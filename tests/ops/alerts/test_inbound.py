"""Inbound alerts: Alertmanager's webhook (version 4) and triad's own format, through HTTP."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tests.fixtures.api import Api
from triadops.ops.alerts.inbound import AlertmanagerPayload, PostedAlert, posted_alerts

GROUP_KEY = '{}/{severity="critical"}:{alertname="InstanceDown"}'


def alertmanager_firing() -> dict[str, Any]:
    """A webhook body in the shape Alertmanager documents for ``webhook_config`` (version 4)."""
    return {
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "triad",
        "groupLabels": {"alertname": "InstanceDown"},
        "commonLabels": {"alertname": "InstanceDown", "job": "node", "severity": "critical"},
        "commonAnnotations": {"summary": "Instance down"},
        "externalURL": "http://alertmanager.example.org:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "InstanceDown",
                    "instance": f"node-{n}.example.org:9100",
                    "job": "node",
                    "severity": "critical",
                },
                "annotations": {
                    "summary": "Instance down",
                    "description": f"node-{n} has been down for more than 5 minutes.",
                },
                "startsAt": "2026-02-06T13:08:45.828Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=up+%3D%3D+0",
                "fingerprint": f"1a30ba71cca2921{n}",
            }
            for n in (1, 2)
        ],
    }


def alertmanager_resolved() -> dict[str, Any]:
    """The same group once both instances came back: status resolved, endsAt set."""
    body = alertmanager_firing()
    body["status"] = "resolved"
    for alert in body["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-02-06T13:20:00.000Z"
    return body


def test_alertmanager_payload_becomes_triad_alerts() -> None:
    alerts = AlertmanagerPayload.model_validate(alertmanager_firing()).to_alerts()
    assert [a.labels["instance"] for a in alerts] == [
        "node-1.example.org:9100",
        "node-2.example.org:9100",
    ]
    first = alerts[0]
    assert first.status == "firing"
    assert first.ends_at is None, "0001-01-01T00:00:00Z is Alertmanager's unset"
    assert first.starts_at == datetime(2026, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert first.resolved_severity.value == "critical"
    assert first.generator_url is not None and first.generator_url.startswith("http://prom")

    resolved = AlertmanagerPayload.model_validate(alertmanager_resolved()).to_alerts()
    assert resolved[0].status == "resolved"
    assert resolved[0].ends_at == datetime(2026, 2, 6, 13, 20, tzinfo=UTC)
    assert resolved[0].fingerprint == first.fingerprint, "the same labels are the same alert"


def test_own_format_refuses_what_a_database_cannot_store() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        PostedAlert.model_validate({"labels": {"alertname": "A", "x": "\x00"}})
    with pytest.raises(ValidationError, match="out of range"):
        PostedAlert.model_validate(
            {"labels": {"alertname": "A"}, "starts_at": "9999-12-31T23:00:00-05:00"}
        )
    one = PostedAlert.model_validate({"labels": {"alertname": "A"}})
    assert posted_alerts(one) == [one]


async def test_alertmanager_firing_then_resolved_is_deduplicated_and_resolved(api: Api) -> None:
    first = await api.post("/alerts/alertmanager", as_="eve", json=alertmanager_firing())
    assert first.status_code == 200, first.text
    assert first.json() == {
        "received": 2,
        "new": 2,
        "repeated": 0,
        "resolved": 0,
        "ignored": 0,
        "silenced": 0,
        "failed": 0,
        "refused": 0,
        "refusals": [],
    }
    # Alertmanager resends a firing group every repeat_interval: a repeat, not new alerts.
    again = await api.post("/alerts/alertmanager", as_="eve", json=alertmanager_firing())
    assert (again.json()["new"], again.json()["repeated"]) == (0, 2)

    listed = (await api.get("/alerts", params={"state": "firing"})).json()["items"]
    assert {(a["count"], a["source"], a["severity"]) for a in listed} == {
        (2, "alertmanager", "critical")
    }
    assert all(a["ends_at"] is None for a in listed)

    done = await api.post("/alerts/alertmanager", as_="eve", json=alertmanager_resolved())
    assert (done.json()["resolved"], done.json()["new"]) == (2, 0)
    resolved = (await api.get("/alerts", params={"state": "resolved"})).json()["items"]
    assert len(resolved) == 2
    assert {a["resolved_at"] for a in resolved} == {"2026-02-06T13:20:00Z"}
    assert {a["resolved_by"] for a in resolved} == {"eve"}
    assert (await api.get("/alerts", params={"state": "firing"})).json()["items"] == []

    shown = (await api.get(f"/alerts/{resolved[0]['id']}")).json()
    assert [(e["event"], e["actor"]) for e in shown["timeline"]] == [
        ("alert_fired", "eve"),
        ("alert_resolved", "eve"),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.pop("alerts"), "alerts"),
        (lambda b: b["alerts"][0].pop("labels"), "alerts[0].labels"),
        (lambda b: b["alerts"][1]["labels"].pop("alertname"), "alerts[1].labels"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b.update(alerts=b["alerts"] * 501), "alerts"),
    ],
    ids=["version", "no-alerts", "no-labels", "no-alertname", "status", "time", "too-many"],
)
async def test_a_malformed_alertmanager_body_is_422_naming_the_field(
    api: Api, change: Any, field: str
) -> None:
    body = copy.deepcopy(alertmanager_firing())
    change(body)
    response = await api.post("/alerts/alertmanager", as_="eve", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert (await api.get("/alerts")).json()["items"] == [], "nothing was stored"


async def test_alertmanager_needs_a_token_and_an_authority(api: Api) -> None:
    anonymous = await api.client.post("/alerts/alertmanager", json=alertmanager_firing())
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    viewer = await api.post("/alerts/alertmanager", as_="viewer", json=alertmanager_firing())
    assert viewer.status_code == 403
    assert (await api.get("/alerts")).json()["items"] == []
