"""``GET /maintenance/windows``: the calendar in the zone asked for, across a DST change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.api import Api
from triadops.domain.clock import FakeClock, using
from triadops.settings import Settings

NOW = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)  # New York springs forward on 8 March 2026


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with using(FakeClock(NOW)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


@pytest.fixture
def settings(database_url: str, tmp_path: Path, clock: FakeClock) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        monitor=False,
        maintenance_windows=[
            {
                "name": "nightly",
                "every": "daily",
                "start": "02:30",
                "duration_min": 60,
                "timezone": "America/New_York",
            }
        ],
        maintenance_blackouts=[
            {"name": "launch", "starts": "2026-03-08T12:00:00Z", "ends": "2026-03-08T18:00:00Z"}
        ],
    )


async def test_the_calendar_in_new_york_across_spring_forward(api: Api) -> None:
    shown = await api.get("/maintenance/windows", params={"days": 3, "tz": "America/New_York"})

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["tz"] == "America/New_York"
    assert [(i["kind"], i["name"], i["opens"], i["closes"]) for i in body["items"]] == [
        ("window", "nightly", "2026-03-07T02:30:00-05:00", "2026-03-07T03:30:00-05:00"),
        ("window", "nightly", "2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00"),
        ("blackout", "launch", "2026-03-08T08:00:00-04:00", "2026-03-08T14:00:00-04:00"),
        ("window", "nightly", "2026-03-09T02:30:00-04:00", "2026-03-09T03:30:00-04:00"),
    ]
    assert {i["zone"] for i in body["items"]} == {"America/New_York", "UTC"}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"tz": "Mars/Olympus"}, "tz"), ({"tz": "../../etc/passwd"}, "tz"), ({"days": 0}, "days")],
)
async def test_a_bad_zone_or_range_is_refused_naming_it(
    api: Api, params: dict[str, object], field: str
) -> None:
    refused = await api.get("/maintenance/windows", params=params)

    assert refused.status_code == 422, refused.text
    assert field in refused.text
