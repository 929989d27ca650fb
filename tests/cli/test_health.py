"""``triad health`` and ``triad health history`` on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli.conftest import Triad, data, one_error_line
from triadops.ops.health import check_health, save_report
from triadops.runtime import Runtime
from triadops.settings import Settings

BRANCHES = ["legislative", "executive", "judicial", "crown"]


def record_reports(database_url: str, home: Path, count: int) -> list[int]:
    """Store `count` reports as the server's monitoring loop does; return their ids."""

    async def work() -> list[int]:
        rt = await Runtime.open(Settings(home=home, database_url=database_url), migrate=False)
        try:
            ids = []
            for _ in range(count):
                stored = await save_report(rt.powers, await check_health(rt.powers))
                assert stored.id is not None
                ids.append(stored.id)
            return ids
        finally:
            await rt.close()

    return asyncio.run(work())


def test_health_json_checks_now_and_stores_nothing(triad: Triad) -> None:
    result = triad("health", "--json")
    report = data(result, exit_code=result.exit_code)

    assert result.exit_code == (1 if report["status"] == "unhealthy" else 0)
    names = [c["name"] for c in report["components"]]
    assert names[:2] == ["host", "database"] and names[2:] == BRANCHES
    assert 0 <= report["score"] <= 1 and report["id"] is None
    assert "counters" not in report
    host = report["components"][0]
    assert {c["name"] for c in host["checks"]} == {
        "cpu_percent",
        "memory_percent",
        "disk_percent:data",
    }
    database = report["components"][1]["checks"][0]
    assert (database["name"], database["status"]) == ("database.triad.latency_s", "pass")
    assert data(triad("health", "history", "--json")) == []


def test_adhoc_thresholds_never_replace_what_the_server_serves(
    triad: Triad, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    [served] = record_reports(cli_env["TRIAD_DATABASE_URL"], Path(cli_env["TRIAD_HOME"]), 1)
    # An operator tries a stricter CPU threshold by hand: every CPU figure fails it.
    monkeypatch.setenv("TRIAD_HEALTH__THRESHOLDS__CPU_PERCENT", "0.001")
    monkeypatch.setenv("TRIAD_HEALTH__THRESHOLDS__RESPONSE_TIME_S", "0.000001")
    shown = triad("health", "--json")
    report = data(shown, exit_code=shown.exit_code)
    cpu = next(c for c in report["components"][0]["checks"] if c["name"] == "cpu_percent")
    assert cpu["threshold"] == 0.001
    # The newest stored report, the one /constitutional-health serves, is still the loop's.
    listed = data(triad("health", "history", "--json"))
    assert [r["id"] for r in listed] == [served]


def test_health_prints_a_table_and_history_lists_newest_first(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    first = triad("health")
    assert first.exit_code in (0, 1), first.output
    assert "components" in first.stdout and "database.triad.latency_s" in first.stdout
    for component in BRANCHES:
        assert component in first.stdout
    one, two = record_reports(cli_env["TRIAD_DATABASE_URL"], Path(cli_env["TRIAD_HOME"]), 2)

    listed = data(triad("health", "history", "--json"))
    assert [r["id"] for r in listed] == [two, one]
    page = data(triad("health", "history", "--limit", "1", "--before", str(two), "--json"))
    assert [r["id"] for r in page] == [one]
    shown = triad("health", "history", "--limit", "1")
    assert shown.exit_code == 0
    assert f"more: triad health history --limit 1 --before {two}" in shown.stdout


def test_history_without_reports_says_so(triad: Triad) -> None:
    result = triad("health", "history")
    assert (result.exit_code, result.stdout.strip()) == (0, "no stored health reports")
    assert data(triad("health", "history", "--json")) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--limit", "0"], "--limit: must be from 1 to 1000, not 0"),
        (["--limit", "5000"], "--limit: must be from 1 to 1000, not 5000"),
        (["--before", "0"], "--before: a report id is at least 1, not 0"),
    ],
)
def test_bad_history_input_is_one_line_and_exit_2(triad: Triad, args: list[str], says: str) -> None:
    result = triad("health", "history", *args)
    assert result.exit_code == 2
    assert one_error_line(result) == f"error: {says}"


def test_a_bad_health_setting_is_one_line_and_exit_2(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_HEALTH__COLLECTOR_TIMEOUT_S", "-1")
    result = triad("health")
    assert result.exit_code == 2
    assert "health.collector_timeout_s" in one_error_line(result)
