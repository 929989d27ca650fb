"""Run ``triad`` in-process against the test's fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from triadops.cli.main import app

Triad = Callable[..., Result]


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point TRIAD_* at a private home, the fresh database and an empty triad.toml.

    The user's config folder is private too, so a login on this machine never sends a test
    to a server.
    """
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    config = tmp_path / "triad.toml"
    config.touch()
    env = {
        "TRIAD_HOME": str(tmp_path / "home"),
        "TRIAD_DATABASE_URL": database_url,
        "TRIAD_CONFIG": str(config),
        "XDG_CONFIG_HOME": str(tmp_path / "user-config"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def triad(cli_env: dict[str, str]) -> Triad:
    """Invoke the CLI with arguments; exceptions are not swallowed by the runner."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def data(result: Result, *, exit_code: int = 0) -> Any:
    """Parse a --json command's stdout, which must be JSON and nothing else."""
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def one_error_line(result: Result) -> str:
    """Assert a clean refusal: non-zero, one ``error:`` line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def operation(triad: Triad, operation_id: str) -> dict[str, Any]:
    """Return ``triad ops show ID --json``."""
    shown: dict[str, Any] = data(triad("ops", "show", operation_id, "--json"))
    return shown
