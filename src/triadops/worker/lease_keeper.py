"""The lease keeper: renews a worker's leases on its own timer and relays cancels.

A journey's commits renew its lease too, but a step, a measurement or a model call may
run far longer than a lease between two commits. The keeper renews every lease the worker
holds in one statement every third of a lease, whatever the journeys are doing, so a slow
step or a slow model never loses its operation to another worker (which would run or ask
again). A lease found lost is reported to its journey, which stops what it is doing.

While an interruptible step runs, the keeper also reads its operation's cancel request
(a cheap read, every `cancel_check_s` and on every wake-up) and sets the step's stop signal.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.constitution.holds import Hold
from triadops.domain.operations import utcnow
from triadops.settings import WorkerSettings
from triadops.storage import operations as store

log = structlog.stdlib.get_logger(__name__)
CANCEL_CHECK_S: float = WorkerSettings.model_fields["worker_cancel_check_s"].default
"""The ``worker_cancel_check_s`` setting's default, for a keeper built without settings."""


class LeaseKeeper:
    """Renews the leases of the operations a worker holds; use as an async context manager."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        owner: str,
        lease_s: float,
        cancel_check_s: float = CANCEL_CHECK_S,
    ) -> None:
        """Renew `owner`'s leases for `lease_s` every third of it."""
        self._sessions = sessions
        self._owner = owner
        self._lease_s = lease_s
        self._cancel_check_s = cancel_check_s
        self._holds: dict[str, Hold] = {}
        self._poked = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed.set()
        if self._task is not None:
            await self._task

    def hold(self, operation_id: str) -> Hold:
        """Start keeping the lease of an operation this worker has just claimed."""
        hold = self._holds[operation_id] = Hold(operation_id)
        return hold

    def release(self, hold: Hold) -> None:
        """Stop keeping a lease (the journey ended: released, lost, or left to expire)."""
        if self._holds.get(hold.operation_id) is hold:
            del self._holds[hold.operation_id]

    def watch(self, hold: Hold, watched: bool) -> None:
        """Read `hold`'s cancel request often (an interruptible step runs), or stop reading."""
        hold.watched = watched
        if watched:
            self._poked.set()  # the keeper may be asleep until its next renewal

    def poke(self) -> None:
        """Read the watched steps' cancel requests now (a wake-up came)."""
        self._poked.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        renew_every = self._lease_s / 3
        next_renewal = loop.time() + renew_every
        while not self._closed.is_set():
            wait = next_renewal - loop.time()
            if any(h.watched for h in self._holds.values()):
                wait = min(wait, self._cancel_check_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wait, 0)):
                    await _either(self._poked, self._closed)
            self._poked.clear()
            if self._closed.is_set():
                return
            try:
                if loop.time() >= next_renewal:
                    next_renewal = loop.time() + renew_every
                    await self._renew()
                else:
                    await self._read_cancels()
            except Exception as exc:
                # The next turn tries again; a lease that lapses meanwhile is reported then.
                log.warning("lease renewal failed", reason=f"{type(exc).__name__}: {exc}")

    async def _renew(self) -> None:
        holds = dict(self._holds)
        if not holds:
            return
        async with self._sessions() as session:
            now = utcnow()
            leases = await store.renew_leases(
                session,
                list(holds),
                owner=self._owner,
                now=now,
                until=now + timedelta(seconds=self._lease_s),
            )
            await session.commit()
        for operation_id, hold in holds.items():
            lease = leases.get(operation_id)
            if lease is None:
                hold.lost.set()
            elif lease.cancel_requested_by is not None:
                self._cancel(hold, lease.cancel_requested_by)

    async def _read_cancels(self) -> None:
        watched = {h.operation_id: h for h in self._holds.values() if h.watched}
        if not watched:
            return
        async with self._sessions() as session:
            # storage.engine.READ_ONLY: a deferred BEGIN on SQLite, no write lock.
            await session.connection(execution_options={"triad_read_only": True})
            asked = await store.cancel_requests(session, list(watched))
        for operation_id, by in asked.items():
            self._cancel(watched[operation_id], by)

    @staticmethod
    def _cancel(hold: Hold, by: str) -> None:
        if not hold.stop.is_set():
            hold.cancelled_by = by
            hold.stop.set()


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    """Return when either event is set."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
