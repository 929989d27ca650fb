"""``triad maintain windows``: the next occurrences in the reader's zone, locally and remotely."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Server, Triad, data, one_error_line
from triadops.domain.clock import FakeClock, using

NIGHTLY = {
    "name": "nightly",
    "every": "daily",
    "start": "01:30",
    "duration_min": 60,
    "timezone": "Europe/London",
}


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    # London falls back on Sunday 25 October 2026: 01:30 happens twice, the window once.
    with using(FakeClock(datetime(2026, 10, 24, 12, tzinfo=UTC))) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


def test_local_in_a_zone_across_fall_back(
    triad: Triad, cli_env: dict[str, str], clock: FakeClock
) -> None:
    with open(cli_env["TRIAD_CONFIG"], "w") as config:
        config.write(
            "[[maintenance_windows]]\n"
            + "".join(f"{k} = {json.dumps(v)}\n" for k, v in NIGHTLY.items())
        )

    shown = data(triad("maintain", "windows", "--days", "2", "--tz", "Europe/London", "--json"))

    assert [(i["name"], i["opens"]) for i in shown] == [
        ("nightly", "2026-10-25T01:30:00+01:00"),
        ("nightly", "2026-10-26T01:30:00Z"),
    ]
    table = triad("maintain", "windows", "--days", "2", "--tz", "Europe/London")
    assert table.exit_code == 0 and "Sun 2026-10-25 01:30 BST" in table.output


def test_a_bad_zone_fails_in_one_line(triad: Triad) -> None:
    line = one_error_line(triad("maintain", "windows", "--tz", "Mars/Olympus"))
    assert "--tz" in line and "Mars/Olympus" in line


BLACKOUT_AT = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)


@pytest.fixture
def server_env() -> dict[str, str]:
    ends = BLACKOUT_AT + timedelta(hours=2)
    blackout = {"name": "launch", "starts": BLACKOUT_AT.isoformat(), "ends": ends.isoformat()}
    return {
        "TRIAD_MAINTENANCE_WINDOWS": json.dumps([NIGHTLY]),
        "TRIAD_MAINTENANCE_BLACKOUTS": json.dumps([blackout]),
    }


def test_through_a_server_in_the_zone_asked_for(
    server: Server, triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_URL", server.url)
    monkeypatch.setenv("TRIAD_TOKEN", server.token)

    shown = data(triad("maintain", "windows", "--days", "3", "--tz", "Asia/Tokyo", "--json"))

    blackouts = [i for i in shown if i["kind"] == "blackout"]
    assert [(b["name"], datetime.fromisoformat(b["opens"])) for b in blackouts] == [
        ("launch", BLACKOUT_AT)
    ]
    assert blackouts[0]["opens"].endswith("+09:00")
    nightly = [i for i in shown if i["name"] == "nightly"]
    assert len(nightly) in (3, 4)
    for item in nightly:  # 01:30 in London, shown in Tokyo
        opens = datetime.fromisoformat(item["opens"])
        assert item["opens"].endswith("+09:00") and opens.minute == 30
        assert item["zone"] == "Europe/London"
