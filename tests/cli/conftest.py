"""Run ``triad`` in-process against the test's fresh database (SQLite and PostgreSQL).

For remote mode, `server` runs a real ``triad serve`` on that database (`server_env` adds
to its environment) and `both` gives a local and a remote CLI environment beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.fixtures.servers import free_port, issue_token
from triadops.cli.main import app
from triadops.settings import Settings

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


@dataclass
class Server:
    """A running ``triad serve`` and a token (executive and legislative, principal ``ops``)."""

    url: str
    token: str
    log: Path


@pytest.fixture
def server_env() -> dict[str, str]:
    """More of the server's environment (a test module overrides this: a key, a model)."""
    return {}


@pytest.fixture
def server(settings: Settings, tmp_path: Path, server_env: dict[str, str]) -> Iterator[Server]:
    """Run ``triad serve`` on the test's database until the test ends."""
    token = asyncio.run(issue_token(settings))
    port = free_port()
    log = tmp_path / "serve.stderr"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",
        "TRIAD_MONITOR": "false",
        "TRIAD_WORKER_POLL_S": "0.05",
        **server_env,
    }
    command = [sys.executable, "-m", "triadops.cli.main", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Server(url, token, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def both(
    settings: Settings, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[CliRunner, dict[str, str], dict[str, str]]:
    """A runner and the environments of a local and of a remote CLI on the same database."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    local = {
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",
        "TRIAD_URL": "",
    }
    remote = {"TRIAD_URL": server.url, "TRIAD_TOKEN": server.token, "TRIAD_CONFIG": ""}
    return CliRunner(), local, remote
