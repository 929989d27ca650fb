"""``triad health`` and ``triad health history`` on both databases."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Triad, data, one_error_line

BRANCHES = ["legislative", "executive", "judicial", "crown"]


def test_health_json_checks_now_and_stores_the_report(triad: Triad) -> None:
    result = triad("health", "--json")
    report = data(result, exit_code=result.exit_code)

    assert result.exit_code == (1 if report["status"] == "unhealthy" else 0)
    names = [c["name"] for c in report["components"]]
    assert names[:2] == ["host", "database"] and names[2:] == BRANCHES
    assert 0 <= report["score"] <= 1 and report["id"] == 1
    assert "counters" not in report
    host = report["components"][0]
    assert {c["name"] for c in host["checks"]} == {
        "cpu_percent",
        "memory_percent",
        "disk_percent:data",
    }
    database = report["components"][1]["checks"][0]
    assert (database["name"], database["status"]) == ("database.triad.latency_s", "pass")

    listed = data(triad("health", "history", "--json"))
    assert [(r["id"], r["score"], r["status"]) for r in listed] == [
        (1, report["score"], report["status"])
    ]


def test_health_prints_a_table_and_history_lists_newest_first(triad: Triad) -> None:
    first = triad("health")
    assert first.exit_code in (0, 1), first.output
    assert "components" in first.stdout and "database.triad.latency_s" in first.stdout
    for component in BRANCHES:
        assert component in first.stdout
    triad("health")

    listed = data(triad("health", "history", "--json"))
    assert [r["id"] for r in listed] == [2, 1]
    page = data(triad("health", "history", "--limit", "1", "--before", "2", "--json"))
    assert [r["id"] for r in page] == [1]
    shown = triad("health", "history", "--limit", "1")
    assert shown.exit_code == 0
    assert "more: triad health history --limit 1 --before 2" in shown.stdout


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
