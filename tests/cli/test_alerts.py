"""``triad alerts`` and ``triad silences`` against a real database, as the local operator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.cli.conftest import Triad, data, one_error_line
from triadops.cli.alerts import duration_seconds
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.ops.alerts import service
from triadops.runtime import Runtime
from triadops.settings import Settings


def raise_alerts(*alerts: dict[str, Any]) -> None:
    """A monitor raises alerts in the database the CLI uses."""

    async def work() -> None:
        rt = await Runtime.open(Settings())
        try:
            async with rt.session() as session:
                await service.ingest(
                    session,
                    [AlertIn.model_validate(a) for a in alerts],
                    source="health",
                    now=utcnow(),
                    settings=rt.settings.alerts,
                )
                await lifecycle.commit(session)
        finally:
            await rt.close()

    asyncio.run(work())


def listed(triad: Triad, *args: str) -> dict[str, dict[str, Any]]:
    return {a["alertname"]: a for a in data(triad("alerts", "list", "--json", *args))}


@pytest.fixture
def two_alerts(cli_env: dict[str, str]) -> None:
    raise_alerts(
        {"labels": {"alertname": "DiskFull", "host": "db1"}},
        {"labels": {"alertname": "Meltdown"}, "severity": "emergency"},
    )


def test_list_show_ack_and_resolve(triad: Triad, two_alerts: None) -> None:
    alerts = listed(triad)
    assert {name: a["state"] for name, a in alerts.items()} == {
        "DiskFull": "firing",
        "Meltdown": "firing",
    }
    assert list(listed(triad, "--severity", "emergency")) == ["Meltdown"]
    table = triad("alerts", "list")
    assert table.exit_code == 0 and "DiskFull" in table.stdout and "host=db1" in table.stdout

    disk, melt = alerts["DiskFull"]["id"], alerts["Meltdown"]["id"]
    acked = triad("alerts", "ack", str(melt), "--as", "carol")
    assert acked.exit_code == 0, acked.output
    assert "acknowledged by carol" in acked.stdout
    resolved = triad("alerts", "resolve", str(disk), "--reason", "disk replaced", "--as", "bob")
    assert resolved.exit_code == 0, resolved.output

    shown = data(triad("alerts", "show", str(disk), "--json"))
    assert (shown["state"], shown["resolved_by"]) == ("resolved", "bob")
    assert [(e["event"], e["actor"]) for e in shown["timeline"]] == [
        ("alert_fired", "triad:monitor"),
        ("alert_resolved", "bob"),
    ]
    assert shown["timeline"][1]["details"]["reason"] == "disk replaced"
    text = triad("alerts", "show", str(melt))
    assert text.exit_code == 0
    assert "alert_acknowledged" in text.stdout and "acknowledged_by: carol" in text.stdout
    assert list(listed(triad, "--state", "resolved")) == ["DiskFull"]

    again = triad("alerts", "resolve", str(disk))
    assert again.exit_code == 1
    assert "resolved by bob" in one_error_line(again)
    assert triad("audit", "verify").exit_code == 0


def test_silences_add_list_and_expire(triad: Triad, two_alerts: None) -> None:
    added = triad(
        "silences", "add", "alertname=DiskFull", "host=~db[0-9]", "--duration", "2h",
        "--comment", "disk swap", "--as", "eve",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    silence_id = added.stdout.split()[1]
    assert listed(triad)["DiskFull"]["state"] == "silenced"
    [shown] = data(triad("silences", "list", "--json"))
    assert (shown["id"], shown["created_by"], shown["active"]) == (silence_id, "eve", True)
    ends = datetime.fromisoformat(shown["ends_at"]) - datetime.fromisoformat(shown["starts_at"])
    assert ends == timedelta(hours=2)
    assert "host=~db[0-9]" in triad("silences", "list").stdout

    expired = triad("silences", "expire", silence_id, "--as", "eve")
    assert expired.exit_code == 0, expired.output
    assert listed(triad)["DiskFull"]["state"] == "firing"
    assert data(triad("silences", "list", "--json")) == []
    assert len(data(triad("silences", "list", "--all", "--json"))) == 1
    assert "expired by eve" in one_error_line(triad("silences", "expire", silence_id))

    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert triad("silences", "add", "alertname=Meltdown", "--until", until).exit_code == 0
    assert triad("audit", "verify").exit_code == 0


def test_silences_add_preview_says_what_it_would_mute_and_adds_nothing(
    triad: Triad, two_alerts: None
) -> None:
    shown = data(triad("silences", "add", "host=~db.*", "--preview", "--json"))
    assert (shown["matched"], shown["requires"], shown["allowed"]) == (1, ["crown"], True)
    assert [a["alertname"] for a in shown["alerts"]] == ["DiskFull"]
    emergency = data(triad("silences", "add", "severity=emergency", "--preview", "--json"))
    assert [a["alertname"] for a in emergency["alerts"]] == ["Meltdown"]
    quiet = data(triad("silences", "add", 'severity=~"info|warning"', "--preview", "--json"))
    assert quiet["requires"] == ["executive", "legislative", "crown"]
    assert quiet["severities"] == ["info", "warning"]
    text = triad("silences", "add", "alertname=Meltdown", "--preview")
    assert text.exit_code == 0, text.output
    assert "would match 1 unresolved alert(s)" in text.stdout and "needs crown" in text.stdout
    assert data(triad("silences", "list", "--all", "--json")) == []
    assert {a["state"] for a in listed(triad).values()} == {"firing"}
    assert "every alert" in one_error_line(triad("silences", "add", "host=~.*", "--preview"))
    deep = "host=~" + "(" * 500 + ")" * 500
    assert "nests groups" in one_error_line(triad("silences", "add", deep, "--preview"))


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["silences", "add", "host", "--duration", "1h"], 2, "MATCHER: matcher 'host' is not"),
        (["silences", "add", "host=~db[(", "--duration", "1h"], 2, "not a regular expression"),
        (["silences", "add", "host=~.*", "--duration", "1h"], 2, "would mute every alert"),
        (["silences", "add", "host=db1"], 2, "exactly one of --duration and --until"),
        (["silences", "add", "host=db1", "--duration", "soon"], 2, "--duration: 'soon'"),
        (["silences", "add", "host=db1", "--duration", "31d"], 2, "--duration: a silence may"),
        (["silences", "add", "host=db1", "--until", "2001-01-01"], 2, "--until: a silence must"),
        (["silences", "add", "host=db1", "--until", "later"], 2, "--until: 'later'"),
        (["silences", "expire", "nope!"], 2, "is not a silence id"),
        (["silences", "expire", "0190aaaa-0000-4000-8000-000000000000"], 1, "no silence"),
        (["alerts", "show", "x"], 2, "ID: 'x' is not an alert id"),
        (["alerts", "ack", "0"], 2, "ID: '0' is not an alert id"),
        (["alerts", "ack", "424242"], 1, "no alert 424242"),
        (["alerts", "resolve", "424242", "--reason", " "], 2, "--reason"),
        (["alerts", "list", "--state", "loud"], 2, "--state: 'loud' is not one of"),
        (["alerts", "list", "--severity", "major"], 2, "--severity: 'major' is not one of"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    triad: Triad, cli_env: dict[str, str], args: list[str], code: int, says: str
) -> None:
    result = triad(*args)
    line = one_error_line(result)
    assert result.exit_code == code, line
    assert says in line, line
    assert data(triad("silences", "list", "--all", "--json")) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
