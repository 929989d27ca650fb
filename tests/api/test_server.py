"""Against a real uvicorn process: startup, a worker in the same process, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.fixtures.api import noop_request
from tests.fixtures.servers import free_port, issue_token
from triadops.settings import Settings

pytestmark = pytest.mark.slow


async def wait_until(check: object, *, timeout_s: float, what: str) -> None:
    assert callable(check)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.1)


def serve(settings: Settings, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_WORKER_POLL_S": "0.1",
    }
    command = [sys.executable, "-m", "uvicorn", "triadops.api.app:app_from_env", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (cwd / "uvicorn.log").open("wb")
    with log:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


async def test_served_app_completes_work_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    secret = await issue_token(settings)
    port = free_port()
    process = serve(settings, port, tmp_path)
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def healthy() -> bool:
                assert process.poll() is None, (tmp_path / "uvicorn.log").read_text()
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout_s=30, what="/health")
            created = await client.post("/operations", headers=headers, json=noop_request())
            assert created.status_code == 201, created.text
            path = f"/operations/{created.json()['operation_id']}"

            async def completed() -> bool:
                status = (await client.get(path, headers=headers)).json()["status"]
                assert status not in ("failed", "rolled_back", "cancelled"), status
                return bool(status == "completed")

            await wait_until(completed, timeout_s=30, what="the worker to complete the noop")

        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        log = (tmp_path / "uvicorn.log").read_text()
        # Uvicorn shuts down gracefully, then re-raises the signal it caught, so a clean stop
        # reads as "terminated by SIGTERM" (what systemd counts as success), not as 0.
        assert code == -signal.SIGTERM, log
        assert log.index("worker stopped") < log.index("Application shutdown complete"), log
        assert "Traceback" not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
