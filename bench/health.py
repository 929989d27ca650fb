"""GET /health on a real ``triad serve``, beside a FastAPI hello-world served the same way.

Both apps run in uvicorn subprocesses with the same options (uvloop, httptools, no access
log): triadops through its app factory (``triadops.api.app:app_from_env``, a worker in the
process, SQLite under a fresh ``TRIAD_HOME``), the hello-world as ``@app.get("/")`` returning
``{"status": "ok"}``. One httpx client in this process keeps 16 requests in flight on 16
connections for a fixed number of requests; rounds alternate between the two servers and
the median round counts. The load generator shares the machine's cores with the server it
drives, the same for both, so the ratio is fair; but it costs more per request than either
server, so it caps both rates and the rate ratio stays near 1 (the /health that opened a
database session per request still reached 0.76x by rate, at 0.09x by CPU). The servers'
own CPU time per request (from ``/proc``) is the figure that tells them apart.

    python bench/health.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from table import Row, cli

CLIENTS = 16
AIM = 0.8
"""/health should serve at least this fraction of the hello-world's requests per second."""
UVICORN = 'loop="uvloop", http="httptools", access_log=False, log_config=None'
"""The options both servers run with."""
HELLO = """
import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"status": "ok"}


uvicorn.run(app, host="127.0.0.1", port=PORT, OPTIONS)
"""
TRIAD = """
import uvicorn

uvicorn.run(
    "triadops.api.app:app_from_env", factory=True, host="127.0.0.1", port=PORT, OPTIONS
)
"""
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    """A served app: where to ask, and the process whose CPU time counts."""

    url: str
    path: str
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds the server has used (user and system, all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * _TICK_S


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def _served(script: str, path: str, cwd: Path, env: dict[str, str]) -> AsyncIterator[Server]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", script.replace("PORT", str(port)).replace("OPTIONS", UVICORN)],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(f"http://127.0.0.1:{port}", path, process.pid)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
            for _ in range(600):
                assert process.poll() is None, f"the server exited with {process.returncode}"
                try:
                    if (await client.get(path)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise TimeoutError(f"{server.url}{path} did not answer 200")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _drive(client: httpx.AsyncClient, server: Server, n: int) -> tuple[float, float]:
    """Send `n` GETs, CLIENTS at a time; return (requests per second, server CPU µs each)."""
    left = n

    async def one_client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await client.get(server.url + server.path)
            assert response.status_code == 200, response.text

    cpu = server.cpu_s()
    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    return n / elapsed, (server.cpu_s() - cpu) / n * 1e6


async def rows(quick: bool) -> list[Row]:
    """/health beside the hello-world: requests per second, and server CPU per request."""
    n, rounds = (1000, 3) if quick else (4000, 5)
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        triad_env = {"TRIAD_HOME": str(home / "home"), "TRIAD_CONFIG": ""}
        async with (
            _served(TRIAD, "/health", home, triad_env) as triad,
            _served(HELLO, "/", home, {}) as hello,
            httpx.AsyncClient(limits=limits, timeout=30) as client,
        ):
            for server in (triad, hello):
                await _drive(client, server, 500)  # warm up: connections, caches
            runs: dict[Server, list[tuple[float, float]]] = {triad: [], hello: []}
            for _ in range(rounds):
                for server in (triad, hello):
                    runs[server].append(await _drive(client, server, n))
    rate, cpu = (statistics.median(r[0] for r in runs[triad])), _median_cpu(runs[triad])
    hello_rate, hello_cpu = statistics.median(r[0] for r in runs[hello]), _median_cpu(runs[hello])
    ratio = rate / hello_rate
    return [
        Row(
            path=f"GET /health, triad serve: {CLIENTS} clients, {rounds}x{n} requests",
            measured=f"{rate:.0f} req/s",
            baseline=f"FastAPI hello-world GET /: {hello_rate:.0f} req/s",
            ratio=ratio,
            aim=f"≥{AIM}x hello-world",
            met=ratio >= AIM,
        ),
        Row(
            path="GET /health, server CPU per request (background worker included)",
            measured=f"{cpu:.0f} µs",
            baseline=f"hello-world: {hello_cpu:.0f} µs",
            ratio=hello_cpu / cpu,
            aim=f"≥{AIM}x hello-world",
            met=hello_cpu / cpu >= AIM,
        ),
    ]


def _median_cpu(runs: list[tuple[float, float]]) -> float:
    return statistics.median(r[1] for r in runs)


if __name__ == "__main__":
    cli(rows, __doc__)
