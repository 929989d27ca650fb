"""``triad`` as real processes: the module entry point, and a worker stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.fixtures.cli_processes import show, start_worker, triad

pytestmark = pytest.mark.slow


def _work_until(env: dict[str, str], operation_id: str, status: str) -> None:
    """Run a `triad worker` until the operation reaches `status`, then stop it."""
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while show(env, operation_id)["status"] != status:
            assert time.monotonic() < deadline, f"{operation_id} never became {status}"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def test_submit_and_wait_in_a_process(cli_env: dict[str, str]) -> None:
    done = triad(cli_env, "ops", "submit", "--procedure", "log_rotation", "--wait", "--json")

    assert done.returncode == 0, done.stderr
    op = json.loads(done.stdout)
    assert op["status"] == "completed"
    refused = triad(cli_env, "ops", "submit", "--step", "noop", "--params", "{oops")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_worker_drives_submitted_work_and_stops_on_sigterm(cli_env: dict[str, str]) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "triadops.cli.main", "worker"],
        env={**os.environ, **cli_env, "TRIAD_WORKER_POLL_S": "0.05"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        submitted = triad(cli_env, "ops", "submit", "--step", "noop", "--id", "op-w")
        assert submitted.returncode == 0, submitted.stderr
        deadline = time.monotonic() + 60
        while show(cli_env, "op-w")["status"] != "completed":
            assert time.monotonic() < deadline, "the worker did not complete op-w"
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.2)
        executors = {e["actor"] for e in show(cli_env, "op-w")["timeline"]}
        assert any(a.startswith("executive:") for a in executors)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "stopped" in stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_and_stops_on_sigterm(cli_env: dict[str, str]) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "triadops.cli.main", "serve", "--port", str(port)],
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "triad serve did not answer"
                time.sleep(0.2)
        assert response.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, as servers should.
    assert server.returncode == -signal.SIGTERM, stderr
    # Every log line (the worker's and uvicorn's) goes to stderr; stdout stays for output.
    assert "worker stopped" in stderr, stderr
    assert "Application shutdown complete" in stderr
    assert "Traceback" not in stdout + stderr


def test_killed_worker_leaves_a_step_in_doubt_that_a_judge_resolves(
    cli_env: dict[str, str], tmp_path: Any
) -> None:
    env = {**cli_env, "TRIAD_LEASE_S": "1", "TRIAD_WORKER_POLL_S": "0.05"}
    marker = tmp_path / "home" / "drills" / "ran"
    params = json.dumps({"sleep_s": 60, "marker": str(marker)})
    submitted = triad(
        env, "ops", "submit", "--step", "noop.once", "--params", params, "--id", "op-d"
    )
    assert submitted.returncode == 0, submitted.stderr
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, "the worker never started the step"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    time.sleep(1.5)  # the dead worker's lease runs out

    # A second worker picks the orphan up and, the step not being idempotent, puts it in doubt.
    _work_until(env, "op-d", "in_doubt")

    ruled = triad(env, "ops", "resolve", "op-d", "--succeeded", "--as", "judy")
    assert ruled.returncode == 0, ruled.stderr
    assert show(env, "op-d")["status"] == "executing"
    _work_until(env, "op-d", "completed")
    done = show(env, "op-d")
    assert done["status"] == "completed"
    assert marker.read_text().count("\n") == 1, "the non-idempotent step ran twice"
    assert any(e["event"] == "transition" and e["actor"] == "judy" for e in done["timeline"])
