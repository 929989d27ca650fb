"""/metrics: Prometheus text that prometheus_client's parser reads, figures from the database."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import event

from tests.fixtures.api import Api, drive, noop_request
from triadops.constitution import lifecycle
from triadops.domain.clock import utcnow
from triadops.ops import stages
from triadops.ops.alerts import dispatch
from triadops.runtime import Runtime
from triadops.storage.ledger import count_entries


def parse(text: str) -> dict[str, list[Sample]]:
    """Every family's samples by family name; the parser raises on malformed text."""
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples[:5])
    return found[0]


async def test_metrics_follow_prometheus_conventions(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    await api.submit(noop_request())
    await drive(rt)
    await stages.fold_all(rt.powers)
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = parse(response.text)
    assert all(name.startswith("triad_") for name in families)

    ops = families["triad_operations"]
    assert value(ops, "triad_operations", type="maintenance", status="completed") == 2
    assert value(ops, "triad_operations", type="maintenance", status="scheduled") == 0
    assert value(families["triad_frozen"], "triad_frozen") == 0
    assert "op-" not in response.text

    # Stage durations: one histogram per branch, its +Inf bucket equal to its count.
    stages_ = families["triad_stage_duration_seconds"]
    judicial_count = value(stages_, "triad_stage_duration_seconds_count", branch="judicial")
    assert judicial_count == 2
    inf = value(stages_, "triad_stage_duration_seconds_bucket", branch="judicial", le="+Inf")
    assert inf == judicial_count
    assert value(families["triad_stage_errors"], "triad_stage_errors_total", branch="judicial") == 0

    # Counters end in _total; the families with a source are all there.
    assert value(families["triad_ledger_entries"], "triad_ledger_entries_total") > 5
    for name in (
        "triad_alerts",
        "triad_http_requests",
        "triad_http_request_duration_seconds",
    ):
        assert name in families, name


async def test_http_requests_are_counted_by_route_template(api: Api, rt: Runtime) -> None:
    submitted = await api.submit(noop_request())
    await api.get(f"/operations/{submitted['operation_id']}")
    await api.get("/operations/no-such-operation")
    await api.client.get("/no/such/path/42")
    families = parse((await api.client.get("/metrics")).text)
    http = families["triad_http_requests"]
    template = "/operations/{operation_id}"
    assert value(http, "triad_http_requests_total", route=template, method="GET", status="200") == 1
    assert value(http, "triad_http_requests_total", route=template, method="GET", status="404") == 1
    unmatched = [s for s in http if s.labels["route"] == "<unmatched>"]
    assert [s.labels["status"] for s in unmatched if s.name.endswith("_total")] == ["404"]
    # No raw path reaches a label: a scanner cannot mint new series.
    assert not [s for s in http if "42" in s.labels["route"] or "no-such" in s.labels["route"]]


LEDGER_ROWS = re.compile(r"\bFROM\s+ledger\b(?!_)", re.IGNORECASE)
"""A statement that reads the ledger's rows (not its one-row head, ``ledger_head``)."""


async def test_the_ledger_counter_reads_the_head_not_the_rows(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    await drive(rt)
    statements: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", executed)
    try:
        response = await api.client.get("/metrics")
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", executed)
    async with rt.session(read_only=True) as session:
        entries = await count_entries(session)
    assert entries > 5
    families = parse(response.text)
    assert value(families["triad_ledger_entries"], "triad_ledger_entries_total") == entries
    assert any("ledger_head" in s for s in statements)
    assert not [s for s in statements if LEDGER_ROWS.search(s)], statements


def counters(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a counter or histogram family: the series that may never go down."""
    found = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for s in family.samples:
            if s.name.endswith(("_total", "_count", "_sum", "_bucket")):
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def promtool_check(text: str) -> None:
    """Run ``promtool check metrics`` on a scrape where promtool is installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # the Debian package `prometheus` ships it; the other checks still ran
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_no_counter_goes_down_between_scrapes(api: Api, rt: Runtime) -> None:
    settings = rt.settings.alerts
    await api.submit(noop_request())
    posted = await api.post(
        "/alerts", as_="eve", json={"labels": {"alertname": "DiskFull"}, "severity": "warning"}
    )
    assert posted.status_code == 200, posted.text
    later = utcnow() + timedelta(seconds=settings.group_wait_s + 1)
    async with rt.session() as session:
        assert await dispatch.flush_groups(session, now=later, settings=settings) >= 1
        await lifecycle.commit(session)
    first = (await api.client.get("/metrics")).text
    families = parse(first)
    assert (
        value(families["triad_notifications_pending"], "triad_notifications_pending", channel="log")
        >= 1
    )

    # Deliveries go out, the alert resolves, more operations run and are counted.
    delivered = await dispatch.deliver_due(rt.sessions, now=later, owner="t", settings=settings)
    assert delivered.sent >= 1
    [alert_id] = [a["id"] for a in (await api.get("/alerts")).json()["items"]]
    resolved = await api.post(f"/alerts/{alert_id}/resolve", as_="eve", json={"reason": "fixed"})
    assert resolved.status_code == 200, resolved.text
    await api.submit(noop_request())
    await drive(rt)
    await stages.fold_all(rt.powers)
    second = (await api.client.get("/metrics")).text

    before, after = counters(first), counters(second)
    went_down = {k: (v, after.get(k)) for k, v in before.items() if after.get(k, -1) < v}
    assert went_down == {}
    families = parse(second)
    assert (
        value(families["triad_notifications_pending"], "triad_notifications_pending", channel="log")
        == 0
    )
    assert (
        value(
            families["triad_notifications"],
            "triad_notifications_total",
            channel="log",
            status="sent",
        )
        >= 1
    )
    for text in (first, second):
        promtool_check(text)


async def test_a_family_without_a_source_is_not_exported(api: Api) -> None:
    text = (await api.client.get("/metrics")).text
    families = parse(text)
    # Nothing records routine successes yet, no report is stored, nothing was delivered:
    # no family with HELP and TYPE but no sample.
    for name in (
        "triad_last_success_timestamp_seconds",
        "triad_health_score",
        "triad_notifications",
        "triad_notifications_pending",
    ):
        assert name not in families, name
    assert "triad_last_success_timestamp_seconds" not in text
