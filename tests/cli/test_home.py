"""The data folder is found as git finds ``.git``; a missing one or a missing config is said."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import Triad, data, one_error_line
from triadops.cli.main import app


@pytest.fixture
def bare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Triad:
    """Invoke ``triad`` as a new user would: no TRIAD_* variable at all, own config folder.

    The database is the default one, SQLite in the data folder: that is the one a home
    holds. (With a server database the home only holds logs and cache.)
    """
    for name in list(os.environ):
        if name.startswith("TRIAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


def test_a_subfolder_finds_the_home_above_it(
    bare: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / ".triad").mkdir()
    monkeypatch.chdir(project)
    assert bare("ops", "submit", "--step", "noop", "--id", "op-home", "--json").exit_code == 0

    monkeypatch.chdir(project / "src" / "deep")
    listed = data(bare("ops", "list", "--json"))

    assert [op["operation_id"] for op in listed] == ["op-home"]
    assert not (project / "src" / "deep" / ".triad").exists()


def test_a_triad_toml_marks_the_project_root_too(
    bare: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "triad.toml").write_text("worker_batch = 8\n")
    monkeypatch.chdir(project / "sub")

    assert bare("token", "create", "--name", "ci", "--role", "viewer").exit_code == 0

    assert (project / ".triad" / "triad.db").exists()
    assert not (project / "sub" / ".triad").exists()


def test_a_read_with_no_home_says_so_and_creates_nothing(
    bare: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    for args in (["ops", "list"], ["alerts", "list"], ["ops", "cancel", "op-1"]):
        result = bare(*args)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert "no triad database at" in line and "no .triad folder in" in line, line
        assert "No operations" not in result.output and "no operations" not in result.output
    assert list(elsewhere.iterdir()) == []


def test_an_explicit_home_still_wins(
    bare: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "project" / ".triad").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("TRIAD_HOME", str(tmp_path / "other"))

    result = bare("ops", "list")

    assert f"no triad database at {tmp_path / 'other' / 'triad.db'}" in one_error_line(result)


def test_a_missing_config_file_is_an_error_naming_it(
    triad: Triad, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "triad.toml"
    monkeypatch.setenv("TRIAD_CONFIG", str(missing))

    for args in (["ops", "list"], ["ops", "submit", "--step", "noop"], ["serve"]):
        result: Result = triad(*args)
        assert result.exit_code == 2, result.output
        assert one_error_line(result) == f"error: TRIAD_CONFIG: {missing}: no such file"
