"""Declared commands through ``triad`` as real processes: bad params, a worker killed mid-step."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.actions.commands.declared import deploy_spec, toml_of
from tests.actions.commands.test_local import alive
from tests.fixtures.cli_processes import show, start_worker, triad

pytestmark = pytest.mark.slow

HOLDS = """
import os, subprocess, sys, time
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "a").write(f"{os.getpid()} {helper.pid} {sys.argv[2]}\\n")
time.sleep(120)
"""


@pytest.fixture
def cli_env(
    database_url: str, tmp_path: Path, tool: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """TRIAD_* for a private home, the fresh database and a triad.toml declaring commands."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    holds = tmp_path / "holds.py"
    holds.write_text(HOLDS)
    marker = tmp_path / "started"
    once = {
        "description": "hold a migration lock (not safe to repeat)",
        "argv": [sys.executable, str(holds), str(marker), "{tag}"],
        "params": {"tag": {"type": "str", "pattern": "v[0-9]+"}},
        "rollback_argv": [sys.executable, "-c", "pass", "{tag}"],
        "risk": "low",
        "reversible": True,
        "idempotent": False,
        "timeout_s": 300,
    }
    config = tmp_path / "triad.toml"
    config.write_text(toml_of({"deploy": deploy_spec(tool), "migrate": once}))
    return {
        "TRIAD_HOME": str(tmp_path / "home"),
        "TRIAD_DATABASE_URL": database_url,
        "TRIAD_CONFIG": str(config),
        "XDG_CONFIG_HOME": str(tmp_path / "user-config"),
        "TRIAD_LEASE_S": "1",
        "TRIAD_WORKER_POLL_S": "0.05",
    }


@pytest.mark.parametrize(
    "params",
    [{}, {"tag": 3}, {"tag": "v1; rm -rf /"}, {"tag": "v1", "target": "prod"}],
    ids=["missing", "type", "pattern", "undeclared"],
)
def test_bad_params_fail_in_one_line_and_store_nothing(
    cli_env: dict[str, str], params: dict[str, object]
) -> None:
    done = triad(
        cli_env, "ops", "submit", "--step", "command.deploy", "--params", json.dumps(params)
    )

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "steps[0]" in done.stderr and "params." in done.stderr, done.stderr
    listed = triad(cli_env, "ops", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_killed_worker_leaves_a_non_idempotent_command_in_doubt(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    submitted = triad(
        cli_env,
        "ops",
        "submit",
        "--step",
        "command.migrate",
        "--params",
        '{"tag": "v9"}',
        "--id",
        "op-m",
    )
    assert submitted.returncode == 0, submitted.stderr
    worker = start_worker(cli_env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the worker never started the command"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    command_pid, helper_pid = (int(pid) for pid in marker.read_text().split()[:2])
    try:
        # The command's group dies with the worker that started it (on Linux: tether.py),
        # its own child included: nothing of it runs on as an orphan.
        deadline = time.monotonic() + 10
        while alive(command_pid) or alive(helper_pid):
            assert time.monotonic() < deadline, "the command outlived its SIGKILLed worker"
            time.sleep(0.05)
        time.sleep(1.5)  # the dead worker's lease runs out
        second = start_worker(cli_env)
        try:
            deadline = time.monotonic() + 60
            while (shown := show(cli_env, "op-m"))["status"] != "in_doubt":
                assert time.monotonic() < deadline, f"op-m is {shown['status']}, not in_doubt"
                time.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
        assert marker.read_text().count("\n") == 1, "the non-idempotent command ran twice"
    finally:
        for pid in (command_pid, helper_pid):  # whatever the assertions found
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
