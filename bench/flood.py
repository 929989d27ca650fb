"""A real page through a flood: posting an emergency to its delivery at a webhook.

``triad serve`` on SQLite, its monitoring loop dispatching as it does in production (a tick
every 2 s), one webhook channel served by a local HTTP receiver in this process, group wait
0 s (the 30 s default would add the same to both figures). Measured: from posting a real
emergency (the crown's token) to the receiver holding it, while a judicial token's 10,000
junk emergencies (distinct names, so 10,000 groups) were just posted and are in flight
(its rate limit raised so that the dispatcher, not the limit, is what is measured).
Baseline: the same post on a fresh server with no flood. Aim: delivered within 5 s.

    python bench/flood.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx

from serving import free_port, ok, triad
from table import Row, cli
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.domain.enums import Role
from triadops.runtime import Runtime
from triadops.settings import Settings

JUNK = 10_000
BATCH = 1000
REAL = "DatabaseDown"
AIM_S = 5.0
WAIT_S = 120.0


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 200 and notes when each alert name arrives."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.requests = 0
        self.changed = asyncio.Event()
        self.connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[writer] = task
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = json.loads(await reader.readexactly(length))
                now = time.perf_counter()
                self.requests += 1
                for alert in body.get("alerts", []):
                    self.arrived.setdefault(alert["alertname"], now)
                self.changed.set()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.connections.pop(writer, None)

    async def close(self) -> None:
        """Close every connection still open and let its handler end."""
        handlers = list(self.connections.values())
        for writer in list(self.connections):
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def wait_for(self, name: str) -> float:
        """Return when `name` arrived, waiting for it (at most WAIT_S)."""
        deadline = time.perf_counter() + WAIT_S
        while name not in self.arrived:
            assert time.perf_counter() < deadline, f"{name} was not delivered in {WAIT_S:g} s"
            self.changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=1.0)
        return self.arrived[name]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", receiver.port)
    try:
        yield receiver
    finally:
        server.close()
        await receiver.close()


def config(home: Path, receiver: Receiver) -> Path:
    """Write the server's triad.toml: one webhook for every authority, group wait 0 s."""
    path = home / "triad.toml"
    path.write_text(
        "[alerts]\n"
        "group_wait_s = 0\n"
        f"rate_limit_burst = {JUNK}\n"
        f"rate_limit_per_s = {JUNK}\n"
        'fallback = ["pager"]\n'
        "[alerts.channels.pager]\n"
        'kind = "webhook"\n'
        f'url = "http://127.0.0.1:{receiver.port}/pager"\n'
        "[alerts.routes]\n"
        + "".join(f'{a} = ["pager"]\n' for a in ("legislative", "executive", "judicial", "crown"))
    )
    return path


async def tokens(home: Path) -> dict[str, str]:
    """Issue the flooding judicial token and the crown's token."""
    rt = await Runtime.open(Settings(home=home))
    try:
        async with rt.session() as session:
            _, judge = await create_token(session, name="judge", roles=[Role.JUDICIAL], by="bench")
            _, crown = await create_token(session, name="carol", roles=[Role.CROWN], by="bench")
            await lifecycle.commit(session)
    finally:
        await rt.close()
    return {"judge": judge, "carol": crown}


def emergency(name: str) -> dict[str, object]:
    return {"labels": {"alertname": name}, "severity": "emergency"}


async def page(junk: int) -> float:
    """Return the seconds from posting the real emergency to its delivery, after `junk`."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        async with receiving() as receiver:
            path = config(home, receiver)
            secrets = await tokens(home)
            async with (
                triad(home, {"TRIAD_CONFIG": str(path)}) as server,
                httpx.AsyncClient(base_url=server.url, timeout=120) as client,
            ):
                bench = {"Authorization": f"Bearer {server.token}"}
                # The monitor leads and dispatches before anything is timed.
                warm = {"labels": {"alertname": "Warmup"}, "severity": "info"}
                ok(await client.post("/alerts", json=warm, headers=bench))
                await receiver.wait_for("Warmup")
                judge = {"Authorization": f"Bearer {secrets['judge']}"}
                for start in range(0, junk, BATCH):
                    body = {"alerts": [emergency(f"Junk{i}") for i in range(start, start + BATCH)]}
                    ok(await client.post("/alerts", json=body, headers=judge))
                crown = {"Authorization": f"Bearer {secrets['carol']}"}
                posted = time.perf_counter()
                ok(await client.post("/alerts", json=emergency(REAL), headers=crown))
                return await receiver.wait_for(REAL) - posted


async def rows(quick: bool) -> list[Row]:
    junk = JUNK // 10 if quick else JUNK
    quiet = await page(0)
    flooded = await page(junk)
    return [
        Row(
            path=f"alerts: a real emergency's page behind {junk:,} junk emergencies in flight",
            measured=f"{flooded:.2f} s posted to delivered",
            baseline=f"{quiet:.2f} s with no flood",
            ratio=flooded / quiet if quiet > 0 else None,
            aim=f"≤ {AIM_S:g} s",
            met=flooded <= AIM_S,
        )
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
