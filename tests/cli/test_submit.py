"""``triad ops submit``: procedures, steps, dry runs and waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.cli.conftest import Triad, data, one_error_line, operation
from triadops.domain.clock import FakeClock

TUESDAY = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)


def test_procedure_with_wait_completes_through_every_branch(triad: Triad) -> None:
    result = triad(
        "ops", "submit", "--procedure", "database_optimization", "--wait", "--id", "op-a"
    )

    assert result.exit_code == 0, result.output
    assert "op-a: completed" in result.stdout
    shown = operation(triad, "op-a")
    assert shown["status"] == "completed"
    assert len(shown["steps"]) == 2
    assert all(s["status"] == "succeeded" and s["duration_s"] is not None for s in shown["steps"])
    assert shown["validation_result"]["passed"] is True
    assert shown["constitutional_compliance"] is True
    actors = [e["actor"] for e in shown["timeline"]]
    for branch in ("legislative:", "executive:", "judicial:"):
        assert any(a.startswith(branch) for a in actors), actors
    assert shown["timeline"][-1]["to_status"] == "completed"


def test_show_renders_for_people(triad: Triad) -> None:
    triad("ops", "submit", "--procedure", "cache_cleanup", "--wait", "--id", "op-c")

    result = triad("ops", "show", "op-c")

    assert result.exit_code == 0, result.output
    for text in ("op-c: completed", "cache.cleanup", "timeline", "judicial:rules", "validation"):
        assert text in result.stdout


def test_steps_with_params_and_wait_complete(triad: Triad) -> None:
    result = triad(
        "ops", "submit", "--step", "noop", "--params", '{"sleep_s": 0}', "--wait", "--json"
    )

    op = data(result)
    assert op["status"] == "completed"
    assert op["steps"][0]["action"] == "noop"
    assert op["steps"][0]["params"]["sleep_s"] == 0


def test_each_params_belongs_to_the_step_before_it(triad: Triad) -> None:
    result = triad(
        "ops",
        "submit",
        "--id",
        "op-p",
        "--step",
        "noop",
        "--step",
        "noop",
        "--params",
        '{"sleep_s": 0.01}',
        "--description",
        "two noops",
    )

    assert result.exit_code == 0, result.output
    steps = operation(triad, "op-p")["plan"]["steps"]
    assert [s["params"]["sleep_s"] for s in steps] == [0.0, 0.01]


def test_without_wait_it_is_scheduled_and_listed(triad: Triad) -> None:
    result = triad("ops", "submit", "--step", "noop", "--id", "op-s", "--system", "api")

    assert result.exit_code == 0, result.output
    assert "op-s: scheduled" in result.stdout
    listed = data(triad("ops", "list", "--json"))
    assert [(o["operation_id"], o["status"]) for o in listed] == [("op-s", "scheduled")]
    assert data(triad("ops", "list", "--status", "completed", "--json")) == []


def test_dry_run_previews_and_stores_nothing(triad: Triad) -> None:
    result = triad("ops", "submit", "--procedure", "database_optimization", "--dry-run")

    assert result.exit_code == 0, result.output
    for text in ("database.vacuum_analyze", "touches", "risk: low", "required approvals"):
        assert text in result.stdout
    assert "nothing was stored" in result.stdout
    preview = data(
        triad("ops", "submit", "--step", "database.purge_audit_logs", "--dry-run", "--json")
    )
    assert preview["plan"]["steps"][0]["preview"]["summary"]
    assert preview["planning_result"]["required_approvals"] == ["legislative"]
    assert data(triad("ops", "list", "--json")) == []
    assert data(triad("audit", "log", "--json")) == []


def test_file_request_is_submitted(triad: Triad, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(
        '{"operation_id": "op-f", "operation_type": "maintenance", '
        '"constitutional_authority": "executive", "steps": [{"action": "noop"}]}'
    )

    result = triad("ops", "submit", "--file", str(path), "--wait")

    assert result.exit_code == 0, result.output
    shown = operation(triad, "op-f")
    assert shown["status"] == "completed"
    assert shown["request"]["description"] == "steps: noop"


def test_a_misfit_authority_is_rejected_with_its_reason(triad: Triad) -> None:
    result = triad("ops", "submit", "--type", "emergency", "--step", "noop", "--id", "op-r")

    assert result.exit_code == 1
    assert "op-r: rejected" in result.stdout
    assert "SOP-002" in result.stdout


def test_a_failing_step_rolls_back_and_exits_1(triad: Triad) -> None:
    result = triad("ops", "submit", "--step", "noop", "--params", '{"fail": true}', "--wait")

    assert result.exit_code == 1
    assert "failed" in result.stdout or "rolled_back" in result.stdout


def test_an_out_of_range_time_is_one_line(triad: Triad) -> None:
    for when in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"):
        result = triad("ops", "submit", "--step", "noop", "--scheduled-time", when)
        line = one_error_line(result)
        assert result.exit_code == 2
        assert "scheduled_time" in line and "Overflow" not in line
    assert data(triad("ops", "list", "--json")) == []


def test_wait_drives_only_its_own_operation(triad: Triad) -> None:
    assert triad("ops", "submit", "--step", "noop", "--id", "op-theirs").exit_code == 0
    mine = triad("ops", "submit", "--step", "noop", "--id", "op-mine", "--wait")
    assert mine.exit_code == 0, mine.output
    assert operation(triad, "op-mine")["status"] == "completed"
    assert operation(triad, "op-theirs")["status"] == "scheduled"


def test_work_that_needs_a_window_is_placed_in_it_and_shown_due_then(
    triad: Triad, clock: FakeClock
) -> None:
    clock.advance((TUESDAY - clock.now()).total_seconds())  # outside the default windows

    result = triad("ops", "submit", "--step", "noop", "--window", "weekly", "--id", "op-w")

    assert result.exit_code == 0, result.output
    assert "scheduled for" in result.stdout
    shown = operation(triad, "op-w")
    assert shown["status"] == "scheduled"
    assert shown["request"]["window"] == "weekly"
    # The weekly window opens on Sunday at 01:00 UTC for 180 minutes.
    assert shown["request"]["scheduled_time"].startswith("2030-03-10T01:")
    said = shown["planning_result"]["scheduling_recommendation"]
    assert "placed in window weekly" in said and "requests per 5 minutes" in said


def test_an_unknown_window_is_one_line_naming_it(triad: Triad) -> None:
    line = one_error_line(triad("ops", "submit", "--step", "noop", "--window", "fortnightly"))

    assert "window" in line and "fortnightly" in line and "weekly" in line
    assert data(triad("ops", "list", "--json")) == []
