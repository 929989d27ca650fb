"""``triad maintain application``: one governed operation, locally and through a server.

With no command declared (a fresh clone) it checks the agents' health, cleans the cache,
analyses the performance and measures a new baseline, and says how to declare the pull and
restart. With declared commands the pull writes a marker file and the restart restarts a
real local process (``examples/local-deploy/service.py``); a restart that fails rolls the
pull back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Server, Triad, data, one_error_line, operation
from tests.fixtures.servers import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "examples" / "local-deploy" / "service.py"
ALWAYS = ["cache.cleanup", "performance.analysis", "performance.baseline"]
COMMANDS = ["command.app_pull", "command.app_restart"]
CRITERIA = {"agents_healthy", "performance_within_baseline", "system_functionality_maintained"}

PULL = """\
import sys
from pathlib import Path
marker, ref = Path(sys.argv[1]), sys.argv[2]
if ref == "--undo":
    marker.unlink(missing_ok=True)
else:
    marker.write_text(ref)
print("pulled", ref)
"""

RESTART = """\
import os, signal, subprocess, sys, time, urllib.request
from pathlib import Path
folder, port, service = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
pid_file = folder / "service.pid"
if pid_file.exists():
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    except ProcessLookupError:
        pass
log = (folder / "service.log").open("ab")
process = subprocess.Popen(
    [sys.executable, service, str(folder), str(port)],
    stdout=log, stderr=log, start_new_session=True,
)
pid_file.write_text(str(process.pid))
for _ in range(400):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
            print("restarted", process.pid)
            sys.exit(0)
    except urllib.error.HTTPError as exc:
        sys.exit(f"the service answers its health with {exc.code}")
    except OSError:
        if process.poll() is not None:
            sys.exit(f"the service exited with {process.returncode}")
        time.sleep(0.05)
sys.exit("the service did not answer")
"""


class App:
    """The application the declared commands maintain: a folder, a port, a marker."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "app"
        self.folder.mkdir()
        (self.folder / "VERSION").write_text("v1\n")
        self.port = free_port()
        self.marker = root / "pulled"
        self.bin = root / "bin"
        self.bin.mkdir()
        (self.bin / "pull.py").write_text(PULL)
        (self.bin / "restart.py").write_text(RESTART)

    def config(self) -> str:
        py = json.dumps(sys.executable)
        pull, restart = (
            json.dumps(str(self.bin / "pull.py")),
            json.dumps(str(self.bin / "restart.py")),
        )
        marker, folder = json.dumps(str(self.marker)), json.dumps(str(self.folder))
        return f"""
[commands.app_pull]
description = "Fetch the application's new version"
argv = [{py}, {pull}, {marker}, "{{ref}}"]
rollback_argv = [{py}, {pull}, {marker}, "--undo"]
reversible = true
idempotent = true
risk = "low"
timeout_s = 30

[commands.app_pull.params.ref]
type = "str"
pattern = "v[0-9]+"

[commands.app_restart]
description = "Restart the application on what was pulled"
argv = [{py}, {restart}, {folder}, "{self.port}", {json.dumps(str(SERVICE))}]
idempotent = true
risk = "low"
timeout_s = 60

[maintenance.application]
pull = {{ command = "app_pull", params = {{ ref = "v2" }} }}
restart = {{ command = "app_restart" }}
"""

    def pid(self) -> int | None:
        pid_file = self.folder / "service.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    made = App(tmp_path)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def declared(app: App, cli_env: dict[str, str]) -> App:
    """The CLI's triad.toml declares the pull and restart commands."""
    Path(cli_env["TRIAD_CONFIG"]).write_text(app.config())
    return app


def test_a_fresh_clone_runs_health_cache_and_baseline_and_says_how_to_declare(
    triad: Triad,
) -> None:
    planned = triad("maintain", "application", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert [s["action"] for s in json.loads(planned.stdout)["plan"]["steps"]] == ALWAYS
    assert "no pull or restart command is declared" in planned.stderr
    assert "[maintenance.application]" in planned.stderr
    assert data(triad("ops", "list", "--json")) == []

    done = data(triad("maintain", "application", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    shown = operation(triad, done["operation_id"])
    assert [s["action"] for s in shown["steps"]] == ALWAYS
    assert {s["status"] for s in shown["steps"]} == {"succeeded"}
    findings = {f["name"]: f for f in shown["validation_result"]["findings"]}
    assert set(findings) >= CRITERIA
    assert "no agent is configured" in findings["agents_healthy"]["detail"]
    assert shown["validation_result"]["passed"] is True
    analysis = shown["steps"][1]["output"]
    assert analysis["baseline_measured_at"] is None  # the first run: no baseline before it
    assert data(triad("maintain", "performance", "--json"))["operation_id"] == done["operation_id"]

    again = data(triad("maintain", "application", "--wait", "--json"))
    second = operation(triad, again["operation_id"])
    assert second["steps"][1]["output"]["baseline_measured_at"] is not None  # the first's


def test_declared_commands_pull_and_restart_a_real_process(triad: Triad, declared: App) -> None:
    planned = triad("maintain", "application", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    assert "declared" not in planned.stderr
    steps = json.loads(planned.stdout)["plan"]["steps"]
    assert [s["action"] for s in steps] == [*COMMANDS, *ALWAYS]
    assert steps[0]["params"] == {"ref": "v2"}

    done = data(triad("maintain", "application", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert declared.marker.read_text() == "v2"
    first = declared.pid()
    assert first is not None
    health = httpx.get(f"http://127.0.0.1:{declared.port}/health", timeout=5)
    assert health.json() == {"healthy": True, "version": "v1"}

    again = data(triad("maintain", "application", "--wait", "--json"))
    assert again["status"] == "completed", again["status_reason"]
    assert declared.pid() not in (None, first)  # a new process: restarted for real
    shown = operation(triad, again["operation_id"])
    assert [s["action"] for s in shown["steps"]] == [*COMMANDS, *ALWAYS]
    assert "restarted" in json.dumps(shown["steps"][1]["output"])


def test_a_failing_restart_rolls_the_pull_back(triad: Triad, declared: App) -> None:
    (declared.folder / "VERSION").write_text("broken-1\n")  # its health answers 500
    done = data(triad("maintain", "application", "--wait", "--json"), exit_code=1)
    assert done["status"] == "rolled_back", done["status_reason"]
    shown = operation(triad, done["operation_id"])
    statuses = {s["action"]: s["status"] for s in shown["steps"]}
    assert statuses["command.app_restart"] == "failed"
    assert statuses["command.app_pull"] == "rolled_back"
    assert not declared.marker.exists()  # the pull's rollback_argv ran
    assert "500" in json.dumps(shown["steps"][1]["output"])


def test_a_call_of_an_undeclared_command_is_refused_at_load(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    Path(cli_env["TRIAD_CONFIG"]).write_text(
        '[maintenance.application]\npull = { command = "git_pull" }\n'
    )
    line = one_error_line(triad("maintain", "application", "--dry-run"))
    assert "maintenance.application.pull.command" in line and "git_pull" in line


def test_a_parameter_its_command_refuses_is_refused_at_load(
    triad: Triad, declared: App, cli_env: dict[str, str]
) -> None:
    config = Path(cli_env["TRIAD_CONFIG"])
    config.write_text(config.read_text().replace('ref = "v2"', 'ref = "v2; rm -rf /"'))
    line = one_error_line(triad("maintain", "application", "--dry-run"))
    assert "maintenance.application.pull.params.ref" in line and "pattern" in line


@pytest.fixture
def server_env(app: App, tmp_path: Path) -> dict[str, str]:
    """The server's own triad.toml declares the commands; the CLI's declares none."""
    config = tmp_path / "server.toml"
    config.write_text(app.config())
    return {"TRIAD_CONFIG": str(config)}


def test_through_a_server_it_runs_what_the_server_declares(
    server: Server, triad: Triad, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_URL", server.url)
    monkeypatch.setenv("TRIAD_TOKEN", server.token)
    done = data(triad("maintain", "application", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["request"]["requested_by"] == "ops"
    assert [s["action"] for s in done["steps"]] == [*COMMANDS, *ALWAYS]
    assert app.marker.read_text() == "v2" and app.pid() is not None
    shown = operation(triad, done["operation_id"])
    assert shown["validation_result"]["passed"] is True


def test_the_readmes_example_loads_and_plans(triad: Triad, cli_env: dict[str, str]) -> None:
    text = (REPO / "README.md").read_text()
    start = text.index("<!-- maintenance-application-example -->")
    body = text[text.index("```toml\n", start) + len("```toml\n") : text.index("```\n", start + 50)]
    Path(cli_env["TRIAD_CONFIG"]).write_text(body)
    planned = triad("maintain", "application", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    steps = json.loads(planned.stdout)["plan"]["steps"]
    assert [s["action"] for s in steps] == [*COMMANDS, *ALWAYS]
    assert steps[0]["params"] == {"branch": "main"}
