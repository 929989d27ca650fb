"""The seed's two maintenance scripts, run for real against a running ``triad serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.cli.conftest import Server

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script_env(server: Server | None, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")}
    env["TRIAD_CLI"] = f"{sys.executable} -m triadops.cli.main"
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    if server is not None:
        env |= {"TRIAD_URL": server.url, "TRIAD_TOKEN": server.token, "TRIAD_CONFIG": ""}
    return env | more


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def operations(server: Server) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.get(f"{server.url}/operations", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_maintain_database_runs_one_governed_operation_on_the_server(server: Server) -> None:
    done = run("maintain-database.sh", script_env(server), "--skip-retention", "--json")
    assert done.returncode == 0, done.stderr
    op = json.loads(done.stdout)
    assert op["status"] == "completed", op["status_reason"]
    assert op["request"]["requested_by"] == "ops"  # the token's principal
    assert [s["action"] for s in op["steps"]] == [
        "database.vacuum_analyze",
        "database.reindex",
        "logs.purge",
    ]
    assert [o["operation_id"] for o in operations(server)] == [op["operation_id"]]


def test_maintain_database_without_a_server_says_what_is_missing() -> None:
    done = run("maintain-database.sh", script_env(None))
    assert done.returncode != 0
    assert "TRIAD_URL" in done.stderr and "Traceback" not in done.stderr


def test_maintain_application_fails_clearly_when_the_procedure_is_missing(
    server: Server,
) -> None:
    env = script_env(server, TRIAD_APPLICATION_PROCEDURE="no-such-procedure")
    done = run("maintain-application.sh", env)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"maintain-application.sh: the server at {server.url} has no procedure "
        "'no-such-procedure' (add it, or name another with TRIAD_APPLICATION_PROCEDURE)"
    )
    assert operations(server) == []  # nothing was submitted


def test_maintain_application_submits_what_the_server_declares(server: Server) -> None:
    done = run("maintain-application.sh", script_env(server), "--json")
    assert done.returncode == 0, done.stderr
    op = json.loads(done.stdout)
    assert op["status"] == "completed", op["status_reason"]
    assert op["request"]["requested_by"] == "ops"  # the token's principal
    assert [s["action"] for s in op["steps"]] == [
        "cache.cleanup",
        "performance.analysis",
        "performance.baseline",
    ]
    assert "no pull or restart command is declared" in done.stderr  # the server declares none
    assert [o["operation_id"] for o in operations(server)] == [op["operation_id"]]
