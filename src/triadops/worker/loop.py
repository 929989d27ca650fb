"""The worker: claims due operations, drives them, and keeps house on a cadence."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid

import structlog

from triadops.constitution.driver import drive_once, keep_house
from triadops.constitution.powers import Powers

log = structlog.stdlib.get_logger()
HOUSEKEEPING_EVERY_S = 5.0


def worker_name() -> str:
    """Return a name unique to this worker process, used as its lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def run_worker(powers: Powers, *, stop: asyncio.Event, owner: str | None = None) -> None:
    """Drive operations until `stop` is set; errors are logged and the loop goes on."""
    owner = owner or worker_name()
    loop = asyncio.get_running_loop()
    next_housekeeping = 0.0
    log.info("worker started", owner=owner)
    while not stop.is_set():
        driven = 0
        try:
            if loop.time() >= next_housekeeping:
                await keep_house(powers)
                next_housekeeping = loop.time() + HOUSEKEEPING_EVERY_S
            driven = await drive_once(powers, owner=owner)
        except Exception:
            log.exception("worker pass failed; retrying")
        if not driven:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=powers.settings.worker_poll_s)
    log.info("worker stopped", owner=owner)
