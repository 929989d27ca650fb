"""The README's deploy walkthrough, for real: a clone, ``triad serve``, two tokens, two deploys.

The configuration and the procedure are the README's own blocks (and they must equal the
shipped files under ``examples/local-deploy/``), its ``sh`` block prepares the clone and
starts v1, a real ``triad serve`` runs the operations, and the CLI is a client of it
through ``TRIAD_URL`` and ``TRIAD_TOKEN``. Only the ports differ from the README: the
service's ``8080`` and the server's ``8000`` become free ones, so runs never collide.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import data
from tests.cli.test_readme_blocks import DEPLOY_SECTION, README, deploy_files
from tests.e2e.processes import serve, stop, stop_pid_file
from tests.fixtures.servers import free_port
from triadops.cli.main import app

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "examples" / "local-deploy"
README_PORT = "8080"


def prepare_block() -> str:
    """Return the walkthrough's ``sh`` block: copy the files, start v1."""
    text = README.read_text()
    start = text.index(DEPLOY_SECTION)
    section = text[start : text.index("\n## ", start + 1)]
    [block] = re.findall(r"^```sh\n(cp .*?)^```$", section, re.M | re.S)
    return block


@dataclass
class Clone:
    """A fresh clone with the walkthrough's files, its service and a running ``triad serve``."""

    root: Path
    app_port: int
    url: str
    tokens: dict[str, str]

    def remote(self, who: str, *args: str) -> Result:
        """Run ``triad ARGS`` as a client of the server with `who`'s token."""
        env = {"TRIAD_URL": self.url, "TRIAD_TOKEN": self.tokens[who]}
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    def version(self) -> str:
        """Return what the service answers on ``/version`` now."""
        answer = httpx.get(f"http://127.0.0.1:{self.app_port}/version", timeout=5)
        assert answer.status_code == 200, answer.text
        found: str = answer.json()["version"]
        return found


@pytest.fixture
def clone(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clone]:
    """Do what the README says before the second terminal: files, v1, tokens, serve."""
    config, procedure = deploy_files()
    assert config == (EXAMPLE / "triad.toml").read_text()
    assert procedure == (EXAMPLE / "deploy-app.toml").read_text()
    root = tmp_path / "clone"
    root.mkdir()
    (root / "examples").symlink_to(REPO / "examples")
    app_port = free_port()
    block = prepare_block().replace(README_PORT, str(app_port))
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    local = {
        "TRIAD_HOME": str(root / ".triad"),
        "TRIAD_CONFIG": str(root / "triad.toml"),
        "TRIAD_DATABASE_URL": database_url,
        "XDG_CONFIG_HOME": str(tmp_path / "user-config"),
    }
    for name, value in local.items():
        monkeypatch.setenv(name, value)
    server: subprocess.Popen[bytes] | None = None
    try:
        prepared = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert prepared.returncode == 0, prepared.stderr
        for copied in (root / "triad.toml", root / ".triad" / "procedures" / "deploy-app.toml"):
            text = copied.read_text()
            copied.write_text(text.replace(README_PORT, str(app_port)))
        assert (root / "triad.toml").read_text().count(str(app_port)) == 3

        runner = CliRunner()
        checked = runner.invoke(app, ["procedures", "validate"], catch_exceptions=False)
        assert checked.exit_code == 0, checked.output
        assert "deploy-app" in checked.stdout
        tokens = {}
        for who, role in (("alice", "executive"), ("bob", "legislative")):
            made = runner.invoke(
                app, ["token", "create", "--name", who, "--role", role], catch_exceptions=False
            )
            assert made.exit_code == 0, made.output
            tokens[who] = made.stdout.splitlines()[-1]

        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")}
        env |= {**local, "TRIAD_MONITOR": "false", "TRIAD_WORKER_POLL_S": "0.05"}
        server, url = serve(root, env, free_port())
        walkthrough = Clone(root, app_port, url, tokens)
        assert walkthrough.version() == "v1"
        yield walkthrough
    finally:
        stop(server)
        stop_pid_file(root / ".triad" / "app" / "service.pid")


def _deploy(clone: Clone, version: str, *, exit_code: int) -> dict[str, Any]:
    """Submit as alice, approve as bob with ``--wait``; return ``triad ops show --json``."""
    submitted = clone.remote("alice", "ops", "submit", "--procedure", "deploy-app",
                             "--param", f"version={version}")  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    operation_id, status = submitted.stdout.splitlines()[0].split(": ")
    assert status == "awaiting_approval", submitted.output
    own = clone.remote("alice", "ops", "approve", operation_id)
    assert own.exit_code != 0, own.output
    approved = clone.remote("bob", "ops", "approve", operation_id, "--wait")
    assert approved.exit_code == exit_code, approved.output
    shown: dict[str, Any] = data(clone.remote("bob", "ops", "show", operation_id, "--json"))
    return shown


def test_a_deploy_is_validated_and_a_broken_one_rolled_back_by_itself(clone: Clone) -> None:
    good = _deploy(clone, "v2", exit_code=0)
    assert good["status"] == "completed"
    assert good["request"]["requested_by"] == "alice"
    assert [(a["approver"], a["authority"]) for a in good["approvals"]] == [("bob", "legislative")]
    [probe] = [f for f in good["validation_result"]["findings"] if f["name"] == "http_probe.app"]
    assert probe["passed"], probe
    assert probe["after"]["statuses"] == {"200": 5}
    assert clone.version() == "v2"

    broken = _deploy(clone, "broken-3", exit_code=1)
    assert broken["status"] == "rolled_back"
    assert broken["status_reason"] == "validation failed: http_probe.app"
    assert broken["implementation_result"]["rollback_triggered"] is True
    [step] = broken["steps"]
    assert step["status"] == "rolled_back", step
    [probe] = [f for f in broken["validation_result"]["findings"] if f["name"] == "http_probe.app"]
    assert not probe["passed"]
    assert "answered an unexpected status after (500 x5; expected 200)" in probe["detail"]
    assert clone.version() == "v2"
    assert (clone.root / ".triad" / "app" / "VERSION").read_text().strip() == "v2"
