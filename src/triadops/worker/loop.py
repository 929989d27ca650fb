"""The worker: claims due operations continuously into a bounded set of slots.

Each claimed operation's journey runs in its own task; a slot that frees claims again at
once, whatever the other journeys are doing, so one long step never holds the rest. One
slot is kept for emergencies under the crown, which are claimed first. Housekeeping,
checkpoints and lease renewal (``lease_keeper``) run beside the journeys on their own
cadence.

An idle claimer sleeps until work is announced (``storage.wakeups``: a PostgreSQL NOTIFY
from any process, or a commit in this one), a slot frees, or its poll interval passes,
whichever comes first: the poll is what recovers work whose announcement was lost, whose
lease expired or whose scheduled time came.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import structlog

from triadops import tracing
from triadops.constitution import lifecycle
from triadops.constitution.commits import GroupCommitter
from triadops.constitution.journey import Claimed, Journey
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.publishing import publish_checkpoint
from triadops.constitution.powers import Powers
from triadops.domain.errors import TriadError
from triadops.storage.wakeups import Wakeups
from triadops.worker.claims import claim, keep_house
from triadops.worker.lease_keeper import LeaseKeeper

log = structlog.stdlib.get_logger()


def worker_name() -> str:
    """Return a name unique to this worker process, used as its lease owner."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def run_worker(powers: Powers, *, stop: asyncio.Event, owner: str | None = None) -> None:
    """Drive operations until `stop` is set; errors are logged and the loops go on."""
    owner = owner or worker_name()
    settings = powers.settings
    lease_s = settings.lease_s
    log.info("worker started", owner=owner, concurrency=powers.settings.worker_concurrency)
    async with (
        Wakeups(powers.engine) as wakeups,
        LeaseKeeper(
            powers.sessions,
            owner=owner,
            lease_s=lease_s,
            cancel_check_s=settings.worker_cancel_check_s,
        ) as leases,
        GroupCommitter(powers.sessions, owner=owner, lease_s=lease_s) as gc,
    ):
        slots = Slots(powers, owner=owner, gc=gc, leases=leases)
        # Beside the journeys, each on its own cadence. A checkpoint in flight at stop is
        # awaited, never cut short.
        beside = [
            asyncio.create_task(
                _every(stop, settings.worker_housekeeping_s, "housekeeping", keep_house, powers)
            ),
            asyncio.create_task(_checkpoints(powers, stop)),
        ]
        try:
            await slots.claim_until(stop, wakeups)
        finally:
            # A journey cancelled at stop loses nothing: its last commit stands, its lease
            # expires, and another worker resumes it.
            await slots.drain(settings.worker_stop_grace_s)
            if not stop.is_set():  # cancelled from outside
                for task in beside:
                    task.cancel()
            await asyncio.gather(*beside, return_exceptions=True)
    log.info("worker stopped", owner=owner)


class Slots:
    """A worker's journeys: at most `worker_concurrency`, one of them kept for emergencies."""

    def __init__(
        self, powers: Powers, *, owner: str, gc: GroupCommitter, leases: LeaseKeeper
    ) -> None:
        """Run journeys for `owner`, committing through `gc`, leases kept by `leases`."""
        self._powers, self._owner, self._gc, self._leases = powers, owner, gc, leases
        self.size = powers.settings.worker_concurrency
        self._running: dict[asyncio.Task[None], bool] = {}
        """Each running journey, and whether it is an emergency's."""
        self._freed = asyncio.Event()
        self._likely_due = False

    @property
    def free(self) -> int:
        """Slots free for anything (emergencies included)."""
        return self.size - len(self._running)

    @property
    def free_for_any(self) -> int:
        """Slots free for work that is not an emergency: one slot is always kept back."""
        ordinary = sum(1 for emergency in self._running.values() if not emergency)
        return max(0, min(self.free, self.size - 1 - ordinary))

    async def claim_until(self, stop: asyncio.Event, wakeups: Wakeups) -> None:
        """Claim into free slots until `stop`; sleep when full or idle until woken."""
        poll_s = self._powers.settings.worker_poll_s
        while not stop.is_set():
            claimed = 0
            if self.free:
                try:
                    claimed = await self._claim()
                except Exception:
                    log.exception("claiming failed; retrying")
            if claimed and self.free:
                continue  # more may be due: claim again before sleeping
            self._freed.clear()
            await _first([stop, self._freed, wakeups.event], poll_s)
            if wakeups.event.is_set():
                wakeups.event.clear()
                self._leases.poke()  # the wake-up may be a cancel for a running step

    async def _claim(self) -> int:
        asked = self.free_for_any
        claimed = await claim(
            self._powers,
            owner=self._owner,
            limit=asked,
            emergency_limit=self.free,
            likely_due=self._likely_due,
        )
        # A claim that took all it asked for left more behind, most likely: the next one
        # goes straight to the UPDATE, without the read that spares idle polls the lock.
        self._likely_due = asked > 0 and len(claimed) >= asked
        for c in claimed:
            self._start(c)
        return len(claimed)

    def _start(self, claimed: Claimed) -> None:
        journey = Journey(self._powers, self._gc, self._owner, claimed, self._leases)
        task = asyncio.create_task(journey.run())
        self._running[task] = claimed.row.acknowledgement_deadline is not None
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._freed.set()

    async def drain(self, grace_s: float) -> None:
        """Give running journeys `grace_s` to finish, then cancel those still running."""
        if not self._running:
            return
        _, pending = await asyncio.wait(set(self._running), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("journeys still running at stop were cancelled", count=len(pending))
            await asyncio.wait(pending)


async def _every(
    stop: asyncio.Event,
    every_s: float,
    what: str,
    work: Callable[[Powers], Awaitable[None]],
    powers: Powers,
) -> None:
    """Run `work` every `every_s` seconds until `stop`; a failure is logged, never fatal."""
    while not stop.is_set():
        try:
            await work(powers)
        except Exception:
            log.exception(f"{what} failed; retrying")
        await _first([stop], every_s)


async def _checkpoints(powers: Powers, stop: asyncio.Event) -> None:
    """Sign a checkpoint every `checkpoint_every_s`, when a signing key is configured."""
    if not checkpoints.signing_configured(powers.settings):
        return
    await _every(stop, powers.settings.checkpoint_every_s, "checkpoint", checkpoint_once, powers)


async def _first(events: list[asyncio.Event], timeout: float) -> None:
    """Return when one of `events` is set or after `timeout` seconds."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


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
        await publish_checkpoint(powers.settings, checkpoint)
