"""The shipped application-maintenance procedure: Compose pull and up, the cache, then judged.

Docker's daemon is not something a test may count on (nor may it pull images), and only a
stand-in can report the exact argv it was given, so a ``docker`` script first on the
server's ``PATH`` records each call. Everything else is real: ``triad serve`` with the
example's configuration, its worker running the three steps, and the judiciary probing
triad's own ``/agents/health`` (with a viewer token read from the environment) and its
performance baseline.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import data
from tests.fixtures.processes import serve, stop
from tests.fixtures.servers import free_port
from triadops.cli.main import app

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "application-maintenance"
CONFIG = EXAMPLE / "config" / "triad.toml"
EXAMPLE_PORT = "8000"


def _docker_stand_in(folder: Path, calls: Path) -> None:
    """Write a ``docker`` that appends its argv to `calls` as one JSON line and succeeds."""
    folder.mkdir()
    script = folder / "docker"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(calls)!r}, 'a') as out:\n"
        "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)


@pytest.fixture
def local_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone with the example's configuration; the CLI here works on its database."""
    root = tmp_path / "clone"
    root.mkdir()
    (root / "examples").symlink_to(REPO / "examples")
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAD_HOME", str(root / ".triad"))
    monkeypatch.setenv("TRIAD_CONFIG", str(root / "triad.toml"))
    monkeypatch.setenv("TRIAD_DATABASE_URL", database_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-config"))
    monkeypatch.chdir(root)  # procedure_folders is relative, as `triad serve` would read it
    return root


def _local(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _token(name: str, *roles: str) -> str:
    argv = ["token", "create", "--name", name]
    for role in roles:
        argv += ["--role", role]
    made = _local(*argv)
    assert made.exit_code == 0, made.output
    return made.stdout.splitlines()[-1]


@pytest.fixture
def served(local_env: Path, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """Run ``triad serve`` with the example's configuration and a stand-in ``docker``."""
    port = free_port()
    config = CONFIG.read_text()
    assert config.count(f"127.0.0.1:{EXAMPLE_PORT}/") == 1
    (local_env / "triad.toml").write_text(
        config.replace(f"127.0.0.1:{EXAMPLE_PORT}/", f"127.0.0.1:{port}/")
    )
    calls = tmp_path / "docker-calls.jsonl"
    _docker_stand_in(tmp_path / "bin", calls)
    tokens = {
        "alice": _token("alice", "executive"),
        "bob": _token("bob", "legislative"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")}
    env |= {k: os.environ[k] for k in ("TRIAD_HOME", "TRIAD_CONFIG", "TRIAD_DATABASE_URL")}
    tokens["probe"] = _token("probe", "viewer")
    env |= {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TRIAD_PROBE_TOKEN": tokens["probe"],
        "TRIAD_MONITOR": "false",
        "TRIAD_WORKER_POLL_S": "0.05",
    }
    process = None
    try:
        process, url = serve(local_env, env, port)
        yield url, tokens, calls
    finally:
        stop(process)


def _remote(url: str, token: str, *args: str) -> Result:
    env = {"TRIAD_URL": url, "TRIAD_TOKEN": token}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_the_shipped_procedure_validates_with_the_example_configuration(
    local_env: Path,
) -> None:
    (local_env / "triad.toml").write_text(CONFIG.read_text())
    checked = _local("procedures", "validate", str(EXAMPLE), "--json")
    report = data(checked)
    assert report["ok"] is True, report
    assert "application-maintenance" in report["procedures"]
    shown = data(_local("procedures", "show", "application-maintenance", "--json"))
    assert [s["action"] for s in shown["steps"]] == [
        "command.compose_pull",
        "command.compose_up",
        "cache.cleanup",
    ]
    assert shown["validation_criteria"] == ["http_probe.agents", "performance_within_baseline"]


@pytest.mark.parametrize(
    "compose_file",
    ["compose.yml", "/srv/app/../../etc/compose.yml", "/srv/app/compose.yml; rm -rf /"],
)
def test_a_compose_file_off_its_pattern_is_refused_before_anything_is_stored(
    local_env: Path, compose_file: str
) -> None:
    (local_env / "triad.toml").write_text(CONFIG.read_text())
    refused = _local(
        "ops", "submit", "--procedure", "application-maintenance", "--param",
        f"compose_file={compose_file}",
    )  # fmt: skip
    assert refused.exit_code != 0, refused.output
    assert "procedure_params.compose_file" in refused.stderr
    assert data(_local("ops", "list", "--json")) == []


def test_application_maintenance_runs_compose_pull_then_up_and_is_judged(
    served: tuple[str, dict[str, str], Path], tmp_path: Path
) -> None:
    url, tokens, calls = served
    compose_file = tmp_path / "app" / "compose.yml"
    compose_file.parent.mkdir()
    compose_file.write_text("services: {}\n")
    submitted = _remote(
        url, tokens["alice"], "ops", "submit", "--procedure", "application-maintenance",
        "--param", f"compose_file={compose_file}", "--wait",
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    operation_id, status = submitted.stdout.splitlines()[0].split(": ")
    if status == "awaiting_approval":  # medium risk outside a maintenance window waits
        approved = _remote(url, tokens["bob"], "ops", "approve", operation_id, "--wait")
        assert approved.exit_code == 0, approved.output
    shown: dict[str, Any] = data(_remote(url, tokens["bob"], "ops", "show", operation_id, "--json"))
    assert shown["status"] == "completed", shown["validation_result"]
    assert [s["action"] for s in shown["steps"]] == [
        "command.compose_pull",
        "command.compose_up",
        "cache.cleanup",
    ]
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    assert recorded == [
        ["compose", "-f", str(compose_file), "pull"],
        ["compose", "-f", str(compose_file), "up", "-d", "--remove-orphans"],
    ], shlex.join(map(str, recorded))
    findings = {f["name"]: f for f in shown["validation_result"]["findings"]}
    assert findings["http_probe.agents"]["passed"], findings["http_probe.agents"]
    assert findings["http_probe.agents"]["after"]["statuses"] == {"200": 3}
    assert findings["performance_within_baseline"]["passed"], findings
    assert tokens["probe"] not in json.dumps(shown), "the probe's token leaked"
