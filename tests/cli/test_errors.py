"""Bad input: one line on stderr, a non-zero exit, no traceback and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.cli.conftest import Triad, data, one_error_line
from triadops.api.schemas import FreezeBody


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--procedure", "nope"], 1, "unknown procedure 'nope'"),
        (["--step", "nope"], 1, "steps[0].action: unknown action 'nope'"),
        (["--step", "noop", "--params", "{sleep_s: 1}"], 2, "--params #1 (for --step noop)"),
        (["--step", "noop", "--params", '{"sleep_s": -1}'], 1, "steps[0]: params.sleep_s"),
        (["--step", "noop", "--params", "[1]"], 2, "steps.0.params (--params of --step #1)"),
        (["--step", "noop", "--params", "{}", "--params", "{}"], 2, "--params #2"),
        (["--params", "{}", "--step", "noop"], 2, "--params #1 does not follow a --step"),
        (["--type", "bogus", "--step", "noop"], 2, "operation_type (--type)"),
        (["--authority", "king", "--step", "noop"], 2, "constitutional_authority"),
        (["--scheduled-time", "soon", "--step", "noop"], 2, "scheduled_time"),
        (["--procedure", "database_optimization", "--step", "noop"], 2, "not both"),
        ([], 2, "give --procedure NAME, --step ACTION or --file"),
        (["--file", "/nonexistent/request.json"], 2, "no such file"),
        (["--step", "noop", "--criterion", "made_up"], 1, "validation_criteria[0]"),
        (["--step", "noop", "--as", ""], 2, "--as"),
    ],
)
def test_bad_submissions_are_refused_cleanly(
    triad: Triad, args: list[str], code: int, says: str
) -> None:
    result = triad("ops", "submit", *args)

    line = one_error_line(result)
    assert result.exit_code == code, line
    assert says in line
    assert data(triad("ops", "list", "--json")) == []


def test_bad_json_file_says_where(triad: Triad, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text('{\n  "operation_type": "maintenance",\n  "steps": [}\n')

    line = one_error_line(triad("ops", "submit", "--file", str(path)))

    assert "not valid JSON" in line and "line 3, column 13" in line


def test_invalid_file_request_names_the_file_and_field(triad: Triad, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(
        '{"operation_type": "nope", "constitutional_authority": "executive", '
        '"steps": [{"action": "noop"}]}'
    )

    result = triad("ops", "submit", "--file", str(path))

    assert result.exit_code == 2
    assert one_error_line(result).startswith("error: request.json: operation_type: Input should")


def test_file_excludes_request_flags(triad: Triad, tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text("{}")

    line = one_error_line(triad("ops", "submit", "--file", str(path), "--step", "noop"))

    assert "--file excludes request flags" in line


def test_unknown_flag_is_a_usage_error(triad: Triad) -> None:
    result = triad("ops", "submit", "--bogus")

    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_operation_is_not_found(triad: Triad) -> None:
    for args in (["show", "op-x"], ["approve", "op-x"], ["cancel", "op-x"], ["ack", "op-x"]):
        line = one_error_line(triad("ops", *args))
        assert line == "error: no operation 'op-x'"


def test_bad_setting_exits_2(triad: Triad, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAD_API_PORT", "0")

    result = triad("ops", "list")

    assert result.exit_code == 2
    assert "api_port" in one_error_line(result)


def test_unreachable_database_is_one_line(triad: Triad, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAD_DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:1/none")

    result = triad("ops", "list")

    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: cannot open the database postgresql+asyncpg://nobody:***@")
    assert "secret" not in line


def test_broken_triad_toml_names_the_file_line_and_column(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    config = Path(cli_env["TRIAD_CONFIG"])
    config.write_text('api_port = 8001\nworker_batch = 8\nhome = "/srv/triad\n')

    result = triad("ops", "list")

    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"error: {config}: not valid TOML: ")
    assert "(at line 3, column " in line


def test_a_bad_value_in_triad_toml_names_the_key(triad: Triad, cli_env: dict[str, str]) -> None:
    Path(cli_env["TRIAD_CONFIG"]).write_text("lease_s = -1\n")

    result = triad("ops", "list")

    assert result.exit_code == 2
    assert "lease_s: Input should be greater than 0" in one_error_line(result)


def test_an_unparseable_variable_is_named_without_its_value(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_DATABASE_TARGETS", '{"x": "postgresql://u:hunter2@db/app"')

    result = triad("ops", "list")

    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("error: invalid setting TRIAD_DATABASE_TARGETS: cannot parse its value")
    assert "hunter2" not in line


def test_a_weekly_window_without_its_weekday_is_refused_by_name(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = {"name": "sundays", "every": "weekly", "start": "01:00", "duration_min": 60}
    monkeypatch.setenv("TRIAD_MAINTENANCE_WINDOWS", json.dumps([window]))

    result = triad("ops", "list")

    assert result.exit_code == 2
    assert "weekly window 'sundays' needs a weekday" in one_error_line(result)


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_freeze_refuses_a_blank_reason_as_the_api_does(triad: Triad, reason: str) -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        FreezeBody(reason=reason)

    result = triad("freeze", "--reason", reason)

    assert result.exit_code == 2
    assert one_error_line(result) == "error: --reason: String should have at least 1 character"
    events = [entry["event"] for entry in data(triad("audit", "log", "--json"))]
    assert "freeze" not in events


def test_freeze_keeps_a_reason_trimmed(triad: Triad) -> None:
    result = triad("freeze", "--reason", "  incident 42 ")

    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(": incident 42\n")
    frozen = [e for e in data(triad("audit", "log", "--json")) if e["event"] == "freeze"]
    assert [e["details"]["reason"] for e in frozen] == ["incident 42"]


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unopenable_database_is_one_line_for_serve_and_worker(
    triad: Triad, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("TRIAD_DATABASE_URL", "sqlite+aiosqlite:////proc/triad/no/triad.db")
    result = triad(command)
    assert result.exit_code == 1
    assert "cannot open the database" in one_error_line(result)


def test_a_model_setting_that_names_no_model_is_one_line(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_MODEL", "gpt-5")
    result = triad("ops", "list")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "model" in line and "is not 'rules', 'provider:model'" in line

    monkeypatch.setenv("TRIAD_MODEL", "http://user:sk-in-url@127.0.0.1:11434/v1")
    line = one_error_line(triad("ops", "list"))
    assert "must not carry credentials" in line and "sk-in-url" not in line

    monkeypatch.setenv("TRIAD_MODEL", "http://127.0.0.1:11434/v1")
    line = one_error_line(triad("ops", "list"))
    assert "set agents.model_name (TRIAD_AGENTS__MODEL_NAME)" in line
