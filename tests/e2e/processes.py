"""Processes the end-to-end tests start as a user would: ``triad serve``, a deployed service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx


def serve(root: Path, env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``triad serve`` in `root` with `env` on `port`; return it once /health answers."""
    log = root.parent / "serve.log"
    command = [sys.executable, "-m", "triadops.cli.main", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=root, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a started ``triad serve`` and wait for it."""
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_pid_file(pid_file: Path) -> None:
    """Kill the process a pid file names, if any, and wait until it is gone."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
