"""Worker wake-ups: work that became due is announced when its transaction commits.

On PostgreSQL the transaction that makes work due sends ``NOTIFY triad_work``, which the
server delivers to every listening worker process on commit and drops on rollback. Within
one process (SQLite's only shape: ``triad serve`` runs the API and a worker together) the
commit also wakes local waiters directly. Polling stays the fallback: a lost notification
delays work by one poll, never strands it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy import Engine, event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from triadops.domain.events import CancelRequested, Queued, Unfreeze
from triadops.storage.operations import CLAIMABLE

log = structlog.stdlib.get_logger()
CHANNEL = "triad_work"
APPLICATION_NAME = "triad-wakeups"
"""How a worker's listening connection shows in ``pg_stat_activity``."""
_WAKE = "triad_wake_on_commit"
_CLAIMABLE = frozenset(s.value for s in CLAIMABLE)
_Waiter = tuple[asyncio.AbstractEventLoop, asyncio.Event]
_waiters: weakref.WeakKeyDictionary[Engine, set[_Waiter]] = weakref.WeakKeyDictionary()


Move = tuple[Any, str | None, str | None]
"""An entry's (operation, from, to); None for an entry that wakes the workers by itself."""


def moves(entries: Iterable[Queued]) -> Iterator[Move | None]:
    """The status moves among queued ledger `entries`, None for one that wakes by itself."""
    for entry in entries:
        if isinstance(entry.event, Unfreeze | CancelRequested):
            # A cancel wakes the workers too: the one running the operation's step stops it.
            yield None
        else:
            source, to = entry.event.statuses()
            if to is not None:
                yield entry.subject, source, to


def makes_work_due(entries: Iterable[Queued]) -> bool:
    """True when a transaction makes work claimable, lifts a freeze or asks for a cancel.

    Only operations that enter the claimable states count (a submission or an approval
    scheduling, a ruling sending work back), judged by where each starts and ends within
    the transaction: a worker's own moves between them (scheduled, executing, validating)
    are its own to drive, and a submission the rules decide at once (through reviewing)
    wakes nobody unless it ends scheduled.
    """
    first_from: dict[Any, Any] = {}
    last_to: dict[Any, Any] = {}
    for move in moves(entries):
        if move is None:
            return True
        operation, source, to = move
        first_from.setdefault(operation, source)
        last_to[operation] = to
    return any(
        to in _CLAIMABLE and first_from[operation] not in _CLAIMABLE
        for operation, to in last_to.items()
    )


async def on_commit(session: AsyncSession, entries: Sequence[Queued]) -> None:
    """A commit subscriber: wake the workers when the entries make work due."""
    if makes_work_due(entries):
        await notify_work(session)


async def notify_work(session: AsyncSession) -> None:
    """Wake the workers when this transaction commits (nothing is sent if it rolls back)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, "")))
    session.info[_WAKE] = bind


@event.listens_for(Session, "after_commit")
def _wake_local_waiters(sync_session: Session) -> None:
    if sync_session.in_nested_transaction():
        return  # a savepoint; the outer commit decides
    bind = sync_session.info.pop(_WAKE, None)
    for loop, waiter in list(_waiters.get(bind, ())) if bind is not None else ():
        # The committing thread may not be the waiter's loop's thread.
        loop.call_soon_threadsafe(waiter.set)


@event.listens_for(Session, "after_rollback")
def _forget_wake(sync_session: Session) -> None:
    if not sync_session.in_nested_transaction():
        sync_session.info.pop(_WAKE, None)


async def _first(events: Iterable[asyncio.Event], timeout: float | None) -> None:
    """Return when one of `events` is set or after `timeout` seconds."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def connect_kwargs(engine: AsyncEngine) -> dict[str, Any]:
    """Return what ``asyncpg.connect`` needs to reach the engine's database as it does."""
    _args, kwargs = engine.dialect.create_connect_args(engine.url)
    # The SQLAlchemy adapter's own options, which it takes out before asyncpg sees them.
    for option in ("async_creator_fn", "prepared_statement_cache_size"):
        kwargs.pop(option, None)
    return dict(kwargs)


class WorkListener:
    """Holds one connection that LISTENs on the channel and sets `wake` on every NOTIFY.

    Runs until stopped and never raises: a connection that drops, fails its periodic
    check or cannot be opened is replaced after a growing pause. `wake` is also set after
    each (re)connection, since notifications sent while nobody listened are lost.
    """

    def __init__(
        self,
        connect: dict[str, Any],
        wake: asyncio.Event,
        *,
        timeout_s: float = 5.0,
        check_every_s: float = 15.0,
        retry_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        """Listen where `connect` (``asyncpg.connect``'s arguments) leads.

        Each connect, LISTEN and periodic check may take up to `timeout_s`.
        """
        self._connect = connect
        self._wake = wake
        self._timeout_s = timeout_s
        self._check_every_s = check_every_s
        self._retry_s = retry_s
        self.backend_pid: int | None = None
        """The listening connection's server process, while connected."""
        self.connections = 0
        """How many times a listening connection was opened."""

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set, reconnecting whenever the connection is lost."""
        pause = self._retry_s[0]
        while not stop.is_set():
            try:
                await self._listen_once(stop)
                pause = self._retry_s[0]
            except Exception as exc:
                log.warning(
                    "work listener lost its connection; polling until it is back",
                    reason=f"{type(exc).__name__}: {exc}",
                    retry_in_s=pause,
                )
            if not stop.is_set():
                await _first([stop], pause)
                pause = min(pause * 2, self._retry_s[1])

    async def _listen_once(self, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        settings = {
            **self._connect.get("server_settings", {}),
            "application_name": APPLICATION_NAME,
        }
        conn = await asyncpg.connect(
            **{**self._connect, "server_settings": settings}, timeout=self._timeout_s
        )
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await asyncio.wait_for(conn.add_listener(CHANNEL, self._notified), self._timeout_s)
            self.backend_pid = conn.get_server_pid()
            self.connections += 1
            log.info("listening for work", channel=CHANNEL, connections=self.connections)
            self._wake.set()
            while not stop.is_set():
                await _first([stop, lost], self._check_every_s)
                if lost.is_set() or conn.is_closed():
                    raise ConnectionError("the listening connection closed")
                if not stop.is_set():
                    # A half-open TCP connection is noticed only when asked something.
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), self._timeout_s)
        finally:
            self.backend_pid = None
            try:
                await asyncio.wait_for(conn.close(), self._timeout_s)
            except Exception:
                conn.terminate()

    def _notified(self, *_args: object) -> None:
        self._wake.set()


class Wakeups:
    """What an idle worker waits on: local commits, PostgreSQL notifications, or a poll.

    Use as ``async with Wakeups(engine) as wakeups: ... await wakeups.wait(...)``.
    """

    def __init__(self, engine: AsyncEngine, *, check_every_s: float = 15.0) -> None:
        """Wake on commits through `engine` and, on PostgreSQL, on notifications to its database."""
        self.event = asyncio.Event()
        self._engine = engine.sync_engine
        self._waiter: _Waiter | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.listener = (
            WorkListener(connect_kwargs(engine), self.event, check_every_s=check_every_s)
            if engine.dialect.name == "postgresql"
            else None
        )

    async def __aenter__(self) -> Wakeups:
        self._waiter = (asyncio.get_running_loop(), self.event)
        _waiters.setdefault(self._engine, set()).add(self._waiter)
        if self.listener is not None:
            self._task = asyncio.create_task(self.listener.run(self._stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._waiter is not None:
            _waiters.get(self._engine, set()).discard(self._waiter)
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except TimeoutError:
                log.warning("work listener did not stop in time; cancelled")

    async def wait(self, stop: asyncio.Event, timeout_s: float) -> bool:
        """Wait for a wake-up, `stop` or `timeout_s`; return whether a wake-up came.

        A wake-up that arrived while the worker was busy returns at once: it may be for
        work the busy pass had already looked past.
        """
        if not self.event.is_set():
            await _first([stop, self.event], timeout_s)
        woken = self.event.is_set()
        self.event.clear()
        return woken
