"""Bad input: one line on stderr, a non-zero exit, no traceback and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Triad, data, one_error_line


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
