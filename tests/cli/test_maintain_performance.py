"""``triad maintain performance``: the newest analysis shown, or one submitted, both ways."""

from __future__ import annotations

import pytest

from tests.cli.conftest import Server, Triad, data, one_error_line, operation


def test_nothing_to_show_before_an_analysis(triad: Triad) -> None:
    line = one_error_line(triad("maintain", "performance"))
    assert "no performance analysis yet" in line and "--analyse" in line


def test_analyse_then_show_without_and_with_a_baseline(triad: Triad) -> None:
    planned = data(triad("maintain", "performance", "--analyse", "--dry-run", "--json"))
    assert [s["action"] for s in planned["plan"]["steps"]] == ["performance.analysis"]
    assert planned["planning_result"]["risk_level"] == "low"

    done = data(triad("maintain", "performance", "--analyse", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    shown = operation(triad, done["operation_id"])
    assert shown["request"]["procedure"] == "performance_analysis"
    assert shown["steps"][0]["output"]["baseline_measured_at"] is None
    report = data(triad("maintain", "performance", "--json"))
    assert report["operation_id"] == done["operation_id"] and report["baseline"] is None
    text = triad("maintain", "performance")
    assert text.exit_code == 0, text.output
    assert "no performance baseline established yet" in text.stdout

    base = data(triad("ops", "submit", "--step", "performance.baseline", "--wait", "--json"))
    assert base["status"] == "completed", base["status_reason"]
    again = data(triad("maintain", "performance", "--analyse", "--wait", "--json"))
    assert again["status"] == "completed", again["status_reason"]
    text = triad("maintain", "performance")
    assert text.exit_code == 0, text.output
    assert "db_latency_p95_s:triad" in text.stdout and "ratio" in text.stdout
    assert "figures compared" in text.stdout or "figures slower" in text.stdout


def test_show_options_need_analyse(triad: Triad) -> None:
    assert "--analyse" in one_error_line(triad("maintain", "performance", "--wait"))


def test_through_a_server_with_the_token(
    server: Server, triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_URL", server.url)
    monkeypatch.setenv("TRIAD_TOKEN", server.token)
    assert "no performance analysis yet" in one_error_line(triad("maintain", "performance"))
    done = data(triad("maintain", "performance", "--analyse", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["request"]["requested_by"] == "ops"
    report = data(triad("maintain", "performance", "--json"))
    assert report["operation_id"] == done["operation_id"]
