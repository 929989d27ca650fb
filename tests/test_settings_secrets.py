"""Secret files (``TRIAD_SECRETS_DIR``): a setting read from a mounted file, as Compose mounts them.

The environment wins over a file, a file over ``triad.toml``; a folder that is not there is a
one-line error, not settings silently read without their secrets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import one_error_line
from triadops.cli.main import app
from triadops.settings import SecretsDirMissing, Settings, secrets_dir


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read only what each test gives: no TRIAD_* variables, no triad.toml."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAD_CONFIG", "")


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty secrets folder that ``TRIAD_SECRETS_DIR`` names."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    monkeypatch.setenv("TRIAD_SECRETS_DIR", str(folder))
    return folder


def test_a_setting_comes_from_its_file_named_as_its_variable(secrets: Path) -> None:
    # Written as `echo` writes it: the trailing newline is not part of the password.
    (secrets / "triad_database_url").write_text("postgresql://triad:s3cret@db:5432/triad\n")
    (secrets / "triad_database_targets").write_text(json.dumps({"app": "postgres://u@app/db"}))

    settings = Settings()

    assert settings.database_url == "postgresql+asyncpg://triad:s3cret@db:5432/triad"
    assert settings.database_targets == {"app": "postgresql+asyncpg://u@app/db"}


def test_the_environment_wins_over_a_file_and_a_file_over_the_toml(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "triad.toml"
    config.write_text('database_url = "sqlite:///toml.db"\napi_port = 7000\n')
    monkeypatch.setenv("TRIAD_CONFIG", str(config))
    (secrets / "triad_database_url").write_text("sqlite:///file.db")
    (secrets / "triad_api_port").write_text("7001")
    monkeypatch.setenv("TRIAD_API_PORT", "7002")

    settings = Settings()

    assert settings.database_url == "sqlite+aiosqlite:///file.db"
    assert settings.api_port == 7002


def test_without_the_variable_no_folder_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("triad_database_url").write_text("sqlite:///should-not-be-read.db")

    assert secrets_dir() is None
    assert Settings().database_url is None
    monkeypatch.setenv("TRIAD_SECRETS_DIR", "")
    assert secrets_dir() is None


def test_a_missing_folder_is_refused_not_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("TRIAD_SECRETS_DIR", str(missing))

    with pytest.raises(SecretsDirMissing):
        Settings()
    result = CliRunner().invoke(app, ["ops", "list"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == f"error: TRIAD_SECRETS_DIR: {missing}: no such file"


def test_a_bad_value_in_a_file_names_the_setting_never_the_value(secrets: Path) -> None:
    (secrets / "triad_api_port").write_text("hunter2-hunter2")

    result = CliRunner().invoke(app, ["ops", "list"], catch_exceptions=False)

    line = one_error_line(result)
    assert "api_port" in line
    assert "hunter2" not in result.output


def test_a_command_opens_the_database_a_secret_file_names(
    secrets: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bootstrap a deployment runs: a token issued on the database the file names."""
    monkeypatch.setenv("TRIAD_HOME", str(tmp_path / "home"))
    (secrets / "triad_database_url").write_text(database_url)
    runner = CliRunner()

    made = runner.invoke(app, ["token", "create", "--name", "alice", "--role", "crown", "--json"])
    assert made.exit_code == 0, made.output
    monkeypatch.delenv("TRIAD_SECRETS_DIR")
    monkeypatch.setenv("TRIAD_DATABASE_URL", database_url)
    listed = runner.invoke(app, ["token", "list", "--json"])

    assert [t["name"] for t in json.loads(listed.stdout)] == ["alice"]
