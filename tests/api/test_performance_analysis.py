"""``performance_analysis`` through HTTP, both databases: its report, with and without a
baseline, and one regression alert per figure that later runs repeat, then resolve.

The baseline is stored as ``performance.baseline`` stores it; the API's answers are put in
the access record, so what the analysis reads is known: a regression is made, never waited
for. The database figures get a baseline far above any round trip, so they never regress
by chance on a busy machine.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.api import Api, drive
from triadops.domain.baselines import PERCENTILES
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.storage.access import Access, record_accesses
from triadops.storage.baselines import (
    API_SAMPLES,
    api_percentile_name,
    db_percentile_name,
    db_samples_name,
    replace_baselines,
)
from triadops.storage.tables import AlertRow

REGRESSION = "TriadPerformanceRegression"


async def store_baseline(rt: Runtime, *, api_s: float, db_s: float = 10.0) -> None:
    """Store a baseline of the shape ``performance.baseline`` stores."""
    values = {db_samples_name("triad"): (50.0, "round trips"), API_SAMPLES: (100.0, "requests")}
    for p in PERCENTILES:
        values[db_percentile_name(p, "triad")] = (db_s, "s")
        values[api_percentile_name(p)] = (api_s, "s")
    await replace_baselines(rt.engine, values=values, measured_at=utcnow())


ANSWERS = 1000
"""Enough that the test's own few requests, however slow a busy machine makes them, cannot
move even the 99th percentile (the tenth slowest of a thousand)."""


async def answers_of(rt: Runtime, latency_s: float) -> None:
    """Put ANSWERS API answers of `latency_s` in the access record."""
    await record_accesses(
        rt.engine,
        [
            Access(
                utcnow(), "alice", "GET", "/x", "/x", 200, latency_s=latency_s, request_id=str(n)
            )
            for n in range(ANSWERS)
        ],
    )


async def analyse(api: Api, rt: Runtime, *, as_: str = "eve") -> dict[str, Any]:
    """Submit a performance analysis through HTTP, let a worker run it, return its report."""
    answer = await api.post("/performance/analysis", as_=as_)
    assert answer.status_code == 202, answer.text
    await drive(rt)
    shown = (await api.get(answer.json()["location"])).json()
    assert shown["status"] == "completed", shown["status_reason"]
    assert shown["request"]["procedure"] == "performance_analysis"
    assert shown["request"]["requested_by"] == as_
    assert [s["action"] for s in shown["steps"]] == ["performance.analysis"]
    report = await api.get("/performance/analysis")
    assert report.status_code == 200, report.text
    body: dict[str, Any] = report.json()
    assert body["operation_id"] == shown["operation_id"]
    return body


async def regression_alerts(rt: Runtime) -> list[AlertRow]:
    async with rt.session(read_only=True) as session:
        found = await session.scalars(
            select(AlertRow).where(AlertRow.alertname == REGRESSION).order_by(AlertRow.id)
        )
        return list(found)


async def test_no_report_until_one_is_run(api: Api, rt: Runtime) -> None:
    missing = await api.get("/performance/analysis")
    assert missing.status_code == 404
    assert "POST /performance/analysis" in missing.json()["detail"]


@pytest.mark.parametrize("who", ["viewer", "judge", "carol"])
async def test_only_executive_or_legislative_callers_may_submit(
    api: Api, rt: Runtime, who: str
) -> None:
    answer = await api.post("/performance/analysis", as_=who)
    assert answer.status_code == 403, answer.text
    assert (await api.get("/performance/analysis")).status_code == 404


async def test_without_a_baseline_the_report_says_so_and_compares_nothing(
    api: Api, rt: Runtime
) -> None:
    before = utcnow()
    report = await analyse(api, rt)
    assert report["baseline"] is None
    assert report["figures"] == [] and report["regressions"] == 0
    assert report["note"].startswith("no performance baseline established yet")
    assert report["measured_at"] >= before.isoformat()
    measured = report["measured"]["database"]["triad"]
    assert measured["samples"] == 50
    assert 0 < measured["p50_s"] <= measured["p95_s"] <= measured["p99_s"]
    assert report["factor"] == rt.settings.performance_regression_factor
    assert await regression_alerts(rt) == []


async def test_against_the_established_baseline_each_figure_has_its_ratio(
    api: Api, rt: Runtime
) -> None:
    await answers_of(rt, 0.02)
    established = await api.post("/performance/baseline", as_="eve")
    assert established.status_code == 202
    await drive(rt)
    baseline = (await api.get("/performance/baseline")).json()

    report = await analyse(api, rt)
    assert report["baseline"] == baseline
    by_name = {f["name"]: f for f in report["figures"]}
    assert sorted(by_name) == sorted(
        [f"db_latency_p{p}_s:triad" for p in PERCENTILES]
        + [f"api_latency_p{p}_s" for p in PERCENTILES]
    )
    for p in PERCENTILES:
        api_figure = by_name[f"api_latency_p{p}_s"]
        # The same answers in the window, and perhaps this test's own fast requests.
        assert api_figure["baseline_s"] == pytest.approx(0.02)
        assert api_figure["ratio"] == pytest.approx(api_figure["measured_s"] / 0.02)
        assert api_figure["regressed"] is False
    db = by_name["db_latency_p50_s:triad"]
    assert db["ratio"] == pytest.approx(db["measured_s"] / db["baseline_s"])
    assert report["regressions"] == sum(f["regressed"] for f in report["figures"])


async def test_a_regression_raises_one_alert_per_figure_then_resolves(
    api: Api, rt: Runtime
) -> None:
    await store_baseline(rt, api_s=0.001)
    await answers_of(rt, 0.1)  # a hundred times the baseline's answers

    first = await analyse(api, rt)
    slow = sorted(f["name"] for f in first["figures"] if f["regressed"])
    assert slow == [f"api_latency_p{p}_s" for p in PERCENTILES]
    assert first["regressions"] == 3
    assert "3 of 6 figures slower than 2x" in first["note"]
    await analyse(api, rt)  # still slow: the same alerts again, not new ones

    alerts = await regression_alerts(rt)
    assert sorted(a.labels["figure"] for a in alerts) == slow
    assert {a.state for a in alerts} == {"firing"}
    assert {a.count for a in alerts} == {2}
    p50 = next(a for a in alerts if a.labels["figure"] == "api_latency_p50_s")
    assert p50.annotations["summary"] == "api_latency_p50_s is 100.00x its baseline"
    assert p50.source == "actions"

    await store_baseline(rt, api_s=1.0)  # the baseline moves: nothing is slow any more
    after = await analyse(api, rt)
    assert after["regressions"] == 0
    assert {a.state for a in await regression_alerts(rt)} == {"resolved"}


async def test_a_configured_factor_decides(api: Api, rt: Runtime) -> None:
    rt.settings.performance_regression_factor = 200.0
    await store_baseline(rt, api_s=0.001)
    await answers_of(rt, 0.1)
    report = await analyse(api, rt)
    assert report["factor"] == 200.0
    assert report["regressions"] == 0
    assert await regression_alerts(rt) == []
