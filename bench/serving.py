"""Servers the HTTP shapes drive: ``triad serve`` over a fresh home, and a FastAPI hello-world.

Both run as uvicorn subprocesses with the same options, so a ratio between them compares
triadops' path with the framework's floor on this machine, in this run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.domain.enums import Role
from triadops.runtime import Runtime
from triadops.settings import Settings

HERE = Path(__file__).resolve().parent
CLIENTS = 16
PROFILE = os.environ.get("BENCH_PROFILE", "")
"""A file to write a cProfile of ``triad serve`` to, when set (for finding what bounds it)."""
_PROFILED = """
import cProfile, signal, sys
from triadops.cli.main import app
signal.raise_signal = lambda _signal: None  # uvicorn re-raises SIGTERM: let the stats be written
profile = cProfile.Profile()
profile.enable()
try:
    app(["serve", "--port", "{port}"])
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats("{out}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    token: str = ""

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (user and system, all threads)."""
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)


@asynccontextmanager
async def _process(command: list[str], env: dict[str, str], url: str) -> AsyncIterator[int]:
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            for _ in range(300):
                assert process.poll() is None, f"{command} exited with {process.returncode}"
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@asynccontextmanager
async def hello_world() -> AsyncIterator[Server]:
    """A FastAPI app with a GET /health and a POST /operations that validates and echoes."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "hello:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    url = f"http://127.0.0.1:{port}"
    async with _process(command, {}, url) as pid:
        yield Server(url, pid)


@asynccontextmanager
async def triad(home: Path, env: dict[str, str] | None = None) -> AsyncIterator[Server]:
    """``triad serve`` (API and worker in one process) over a fresh SQLite home, with a token."""
    settings = Settings(home=home)
    rt = await Runtime.open(settings)
    try:
        async with rt.session() as session:
            _, secret = await create_token(
                session, name="bench", roles=[Role.EXECUTIVE, Role.LEGISLATIVE], by="bench"
            )
            await lifecycle.commit(session)
    finally:
        await rt.close()
    port = free_port()
    command = [sys.executable, "-m", "triadops.cli.main", "serve", "--port", str(port)]
    if PROFILE:
        command = [sys.executable, "-c", _PROFILED.format(out=PROFILE, port=port)]
    environment = {
        "TRIAD_HOME": str(home),
        "TRIAD_CONFIG": "",
        **(env or {}),
    }
    url = f"http://127.0.0.1:{port}"
    async with _process(command, environment, url) as pid:
        yield Server(url, pid, secret)


async def hammer(
    url: str,
    requests: int,
    send: Callable[[httpx.AsyncClient], Awaitable[object]],
    headers: dict[str, str] | None = None,
) -> tuple[float, list[float]]:
    """Send `requests` calls from CLIENTS concurrent clients; return (seconds, latencies)."""
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:
        loop = asyncio.get_running_loop()

        async def one_client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = loop.time()
                await send(client)
                latencies.append(loop.time() - started)

        started = loop.time()
        await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
        return loop.time() - started, latencies


def ok(response: httpx.Response, codes: Sequence[int] = (200, 201)) -> httpx.Response:
    assert response.status_code in codes, f"{response.status_code}: {response.text[:300]}"
    return response
