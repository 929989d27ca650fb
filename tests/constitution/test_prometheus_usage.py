"""A target's request rate from a real local HTTP server that answers like Prometheus'
``query_range``: the quiet night it shows is where the work goes; a timeout, a 500 or garbage
is named in the recommendation and triad's own usage is used instead."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.fixtures.http_service import HttpService, http_service
from tests.fixtures.pipeline import request, submit
from triadops.domain.clock import FakeClock, using
from triadops.domain.windows import MaintenanceWindow
from triadops.runtime import Runtime
from triadops.settings import PrometheusUsage, Settings
from triadops.storage.operations import get_operation

TUESDAY = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)
NIGHTLY = MaintenanceWindow(name="nightly", every="daily", start=time(1, 0), duration_min=180)
THURSDAY_2AM = datetime(2030, 3, 7, 2, 0, tzinfo=UTC)


def matrix() -> dict[str, Any]:
    """A week of a rate of 10/s, but 0.01/s last Thursday from 02:00 to 04:00, in two series."""
    start = TUESDAY - timedelta(days=7)
    values = []
    for i in range(7 * 288):
        at = start + timedelta(minutes=5 * i)
        quiet = at.weekday() == 3 and 2 <= at.hour < 4
        values.append([at.timestamp(), "0.005" if quiet else "5"])
    series = [{"metric": {"instance": name}, "values": values} for name in ("a", "b")]
    return {"status": "success", "data": {"resultType": "matrix", "result": series}}


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    with using(FakeClock(TUESDAY)) as fake:
        assert isinstance(fake, FakeClock)
        yield fake


@pytest.fixture
async def prometheus() -> AsyncIterator[HttpService]:
    async with http_service() as service:
        service.payload = matrix()
        yield service


@pytest.fixture
async def rt(
    settings: Settings, clock: FakeClock, prometheus: HttpService
) -> AsyncIterator[Runtime]:
    source = PrometheusUsage(
        base_url=prometheus.url(), query="sum(rate(http_requests_total[5m]))", timeout_s=1.0
    )
    usage = settings.usage.model_copy(update={"prometheus": {"web-1": source}})
    changed = {"maintenance_windows": [NIGHTLY], "usage": usage}
    runtime = await Runtime.open(settings.model_copy(update=changed), migrate=False)
    try:
        yield runtime
    finally:
        await runtime.close()


async def placed(rt: Runtime) -> tuple[datetime | None, str]:
    op = await submit(rt, request(window="nightly", affected_systems=["web-1"]))
    assert op.planning_result is not None
    async with rt.session() as session:
        row = await get_operation(session, op.operation_id)
    return row.scheduled_time, op.planning_result.scheduling_recommendation


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_quiet_night_prometheus_shows_is_chosen(
    rt: Runtime, prometheus: HttpService
) -> None:
    due, said = await placed(rt)

    assert due == THURSDAY_2AM
    assert "3.0 requests per 5 minutes from Prometheus (web-1)" in said  # 2 x 0.005/s x 300 s
    (asked,) = prometheus.seen
    assert asked.raw_path == "/api/v1/query_range"
    query = parse_qs(asked.query)
    assert query["query"] == ["sum(rate(http_requests_total[5m]))"]
    assert query["step"] == ["300"]
    end = int(query["end"][0])
    assert end == int(TUESDAY.timestamp()) and end - int(query["start"][0]) == 28 * 86400


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ("500", "answered HTTP 500"),
        ("timeout", "no answer within 1 s"),
        ("garbage", "answered something that is not a query_range result"),
        ("error", "answered status 'error'"),
        ("huge", "answered more than"),
        ("down", "unreachable (ConnectError)"),
    ],
)
async def test_a_failing_prometheus_is_named_and_triads_own_usage_used(
    rt: Runtime, prometheus: HttpService, fault: str, named: str
) -> None:
    if fault == "500":
        prometheus.status = 500
    elif fault == "timeout":
        prometheus.delay_s = 5.0
    elif fault == "garbage":
        prometheus.payload = {"hello": [1, 2]}
    elif fault == "error":
        prometheus.payload = {"status": "error", "error": "parse error at char 5"}
    elif fault == "huge":
        prometheus.padding = 9 * 1024 * 1024
    else:
        await prometheus.stop()

    due, said = await placed(rt)

    assert f"Prometheus for web-1 failed: {named}" in said
    assert "from triad's own usage" in said
    assert "parse error" not in said  # the server's own words stay out
    assert due is not None and time(1, 0) <= due.time() < time(4, 0)
