"""End to end over real processes: an Alertmanager alert posted to ``triad serve`` reaches a
signed webhook along its escalation path, and ``triad alerts show`` tells the story."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.receivers import http_receiver
from tests.fixtures.servers import issue_token, triad_serve
from triadops.settings import Settings

pytestmark = pytest.mark.slow

SECRET = "s3cret-for-the-test-at-least-32-bytes"


def alertmanager(status: str) -> dict[str, Any]:
    """A version 4 webhook body, shaped as Alertmanager's documentation gives it."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskWillFillIn4Hours"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "triadops",
        "groupLabels": {"alertname": "DiskWillFillIn4Hours"},
        "commonLabels": {"alertname": "DiskWillFillIn4Hours", "severity": "critical"},
        "commonAnnotations": {"summary": "disk /data fills within 4 hours"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "DiskWillFillIn4Hours",
                    "severity": "critical",
                    "instance": "db-1:9100",
                    "mountpoint": "/data",
                },
                "annotations": {"summary": "disk /data on db-1 fills within 4 hours"},
                "startsAt": "2026-11-27T20:00:00.000Z",
                "endsAt": (
                    "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T20:30:00.000Z"
                ),
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=predict_linear",
                "fingerprint": "b2c3d4e5f6a7b8c9",
            }
        ],
    }


def config(path: Path, hook: str) -> Path:
    path.write_text(
        f"""
[alerts]
every_s = 1
group_wait_s = 0
group_interval_s = 1

[alerts.channels.log]
kind = "log"

[alerts.channels.oncall]
kind = "webhook"
url = "{hook}"
secret = "{SECRET}"

[alerts.routes]
legislative = ["log"]
executive = ["log"]
judicial = ["oncall"]
crown = ["oncall"]
"""
    )
    return path


def triad_cli(settings: Settings, toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": str(toml),
    }
    return subprocess.run(
        [sys.executable, "-m", "triadops.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_an_alertmanager_alert_reaches_the_webhook_on_its_path(
    settings: Settings, tmp_path: Path
) -> None:
    token = await issue_token(settings)
    async with http_receiver(SECRET) as receiver:
        toml = config(tmp_path / "triad.toml", receiver.url())
        async with triad_serve(settings, tmp_path, {"TRIAD_CONFIG": str(toml)}) as served:
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
                posted = await client.post(
                    "/alerts/alertmanager", json=alertmanager("firing"), headers=auth
                )
                assert posted.status_code in (200, 202), posted.text
                for _ in range(300):
                    if receiver.accepted:
                        break
                    await asyncio.sleep(0.05)
                assert receiver.accepted, served.log()
                # Signed: the receiver answered 401 to anything it could not verify.
                assert all(r.status == 200 for r in receiver.received)
                [sent] = receiver.accepted
                body = sent.json()
                assert body["status"] == "firing"
                assert "judicial" in body["authorities"]
                [alert] = body["alerts"]
                assert alert["labels"]["instance"] == "db-1:9100"
                assert SECRET not in sent.body.decode()

                # The same alert again: a repeat, not a second alert or a second page.
                again = await client.post(
                    "/alerts/alertmanager", json=alertmanager("firing"), headers=auth
                )
                assert again.status_code in (200, 202), again.text

                metrics = (await client.get("/metrics")).text
                families = {f.name: f for f in text_string_to_metric_families(metrics)}
                critical = [
                    s.value
                    for s in families["triad_alerts"].samples
                    if s.labels == {"severity": "critical", "state": "firing"}
                ]
                assert critical == [1]

            shown = triad_cli(settings, toml, "alerts", "list", "--json")
            assert shown.returncode == 0, shown.stderr
            # The server's own health check may raise alerts of its own beside it.
            alerts = json.loads(shown.stdout)
            [listed] = [a for a in alerts if a["labels"]["alertname"] == "DiskWillFillIn4Hours"]
            assert listed["count"] == 2
            shown = triad_cli(settings, toml, "alerts", "show", str(listed["id"]), "--json")
            assert shown.returncode == 0, shown.stderr
            story = json.loads(shown.stdout)
            assert story["labels"]["alertname"] == "DiskWillFillIn4Hours"
            assert any(
                n["channel"] == "oncall" and n["status"] == "sent" for n in story["notifications"]
            )
            human = triad_cli(settings, toml, "alerts", "show", str(listed["id"]))
            assert human.returncode == 0 and "oncall" in human.stdout, human.stdout
