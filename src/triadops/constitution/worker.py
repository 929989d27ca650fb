"""The worker loop: claims and drives due operations, keeps house, signs checkpoints.

An idle worker sleeps until work is announced (``storage.wakeups``: a PostgreSQL NOTIFY
from any process, or a commit in this one) or until its poll interval passes, whichever
comes first: the poll is what recovers work whose announcement was lost, whose lease
expired or whose scheduled time came.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid

import structlog

from triadops import tracing
from triadops.constitution import lifecycle
from triadops.constitution.crown import checkpoints
from triadops.constitution.driver import drive_once, keep_house
from triadops.constitution.powers import Powers
from triadops.domain.errors import TriadError
from triadops.storage.wakeups import Wakeups

log = structlog.stdlib.get_logger()
HOUSEKEEPING_EVERY_S = 5.0


def worker_name() -> str:
    """Return a name unique to this worker process, used as its lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def run_worker(powers: Powers, *, stop: asyncio.Event, owner: str | None = None) -> None:
    """Drive operations until `stop` is set; errors are logged and the loop goes on."""
    owner = owner or worker_name()
    loop = asyncio.get_running_loop()
    next_housekeeping = next_checkpoint = 0.0
    # Checkpoints run beside the loop: a slow disk or a log locked by another writer
    # must not hold up operations. At most one at a time.
    checkpointing: asyncio.Task[None] | None = None
    log.info("worker started", owner=owner)
    async with Wakeups(powers.engine) as wakeups:
        while not stop.is_set():
            driven = 0
            if (
                loop.time() >= next_checkpoint
                and (checkpointing is None or checkpointing.done())
                and checkpoints.signing_configured(powers.settings)
            ):
                next_checkpoint = loop.time() + powers.settings.checkpoint_every_s
                checkpointing = asyncio.create_task(checkpoint_once(powers))
            try:
                if loop.time() >= next_housekeeping:
                    await keep_house(powers)
                    next_housekeeping = loop.time() + HOUSEKEEPING_EVERY_S
                driven = await drive_once(powers, owner=owner)
            except Exception:
                log.exception("worker pass failed; retrying")
            if not driven:
                await wakeups.wait(stop, powers.settings.worker_poll_s)
    if checkpointing is not None:
        await checkpointing
    log.info("worker stopped", owner=owner)


async def checkpoint_once(powers: Powers) -> None:
    """Sign the ledger's head into the checkpoint log; a failure is a warning, never fatal.

    Reads the head in a read-only session (no write lock); key and log I/O run in threads.
    """
    with tracing.span("crown: checkpoint"):
        await _checkpoint(powers)


async def _checkpoint(powers: Powers) -> None:
    try:
        key = await asyncio.to_thread(checkpoints.signing_key, powers.settings)
        if key is None:
            return
        log_path = powers.settings.resolved_checkpoint_log
        async with powers.sessions() as session:
            # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
            await session.connection(execution_options={"triad_read_only": True})
            if not await checkpoints.checkpoint_due(
                session, public_key=key.public_key(), log_path=log_path
            ):
                return  # only the last checkpoint's own record is new
            checkpoint = await checkpoints.write_checkpoint(session, key=key, log_path=log_path)
        # The ledger records it, so a log cut short of it shows (after the log I/O, never
        # under the write lock).
        async with powers.sessions() as session:
            checkpoints.record_checkpoint(session, checkpoint)
            await lifecycle.commit(session)
    except TriadError as exc:
        log.warning("checkpoint not written", reason=exc.message)
    except Exception as exc:
        # Not exc_info: a traceback's frames would sit beside the private key.
        log.warning("checkpoint not written", reason=f"{type(exc).__name__}: {exc}")
    else:
        log.info("checkpoint written", seq=checkpoint.seq, key_id=checkpoint.key_id)
