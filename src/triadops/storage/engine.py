"""Engines and sessions for SQLite (embedded, WAL, FULL sync) and PostgreSQL."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from triadops.domain.clock import monotonic

READ_ONLY = "triad_read_only"
"""Execution option marking a connection that will only read (SQLite: a deferred BEGIN)."""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a committed ledger entry survives a power loss, not just a process crash.
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
SCRATCH_PRAGMAS = ("PRAGMA synchronous=OFF", *(p for p in SQLITE_PRAGMAS if "synchronous" not in p))
"""For a scratch copy removed after use (a recovery test's): nothing synced, not even the
switch to WAL, which under FULL flushes the whole freshly copied file to disk."""
WRITE_GATE_TIMEOUT_S = 30.0
"""How long a writer waits for another of this process's writers, as ``busy_timeout``."""
_HOLDS_GATE = "triad_holds_write_gate"


def create_engine(url: str, *, scratch: bool = False) -> AsyncEngine:
    """Create an async engine tuned for triadops on SQLite or PostgreSQL.

    Its errors never carry statement parameters (``hide_parameters``): they hold token
    digests, plans and whatever else a request sent, and errors end up in logs. A
    `scratch` SQLite file (a copy deleted after use) is never synced to disk.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine, SCRATCH_PRAGMAS if scratch else SQLITE_PRAGMAS)
    else:
        engine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True
        )
    event.listen(engine.sync_engine, "handle_error", _note_storage_full)
    _close_on_return_after_dispose(engine)
    return engine


_BORN_IN = "triad_born_in_pool"


def _close_on_return_after_dispose(engine: AsyncEngine) -> None:
    """Close a connection that comes back to a pool its engine has since disposed of.

    ``dispose()`` closes only the idle connections and starts a new pool; one checked out
    at that moment (a session of a task still running, a restore's own target) is later
    put back in the old pool, which nobody closes. Its driver connection is then left to
    the garbage collector, which cannot await aiosqlite's or asyncpg's close: it leaks
    (aiosqlite: "ResourceWarning: ... was deleted before being closed").
    """
    owner = weakref.ref(engine.sync_engine)

    @event.listens_for(engine.sync_engine.pool, "connect")
    def _on_connect(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        sync = owner()
        if sync is not None:
            record.info[_BORN_IN] = weakref.ref(sync.pool)

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(dbapi: Any, record: ConnectionPoolEntry) -> None:
        sync, born_in = owner(), record.info.get(_BORN_IN)
        if dbapi is None or sync is None or born_in is None or born_in() is sync.pool:
            return
        record.invalidate()  # closes it now, inside the caller's greenlet: its loop is live


_FULL_MARKERS = ("database or disk is full", "no space left on device", "disk full")
_storage_full: weakref.WeakKeyDictionary[Engine, tuple[float, str]] = weakref.WeakKeyDictionary()


def _note_storage_full(context: ExceptionContext) -> None:
    """Remember when the database last refused a write for lack of space, and why."""
    original = context.original_exception
    text = (str(original).splitlines() or [""])[0]
    full = getattr(original, "sqlstate", None) == "53100" or any(
        marker in text.lower() for marker in _FULL_MARKERS
    )
    if full and context.engine is not None:
        _storage_full[context.engine] = (monotonic(), text[:200])


def storage_full(engine: AsyncEngine, *, within_s: float = 60.0) -> str | None:
    """Return why the database refused a write for lack of space in the last `within_s`."""
    seen = _storage_full.get(engine.sync_engine)
    if seen is None or monotonic() - seen[0] > within_s:
        return None
    return seen[1]


def _configure_sqlite(engine: AsyncEngine, pragmas: tuple[str, ...]) -> None:
    gate = _WriteGate()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so BEGIN can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers never both read the
        # ledger head and then race to extend it, and nobody dies on a lock upgrade.
        # get_isolation_level() never reports AUTOCOMMIT (it asks the database), so read
        # the option that VACUUM and friends set to run outside a transaction.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        # Readers take no lock: in WAL mode they see a snapshot and never block a writer.
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        gate.enter()
        conn.info[_HOLDS_GATE] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine.pool, "reset")
    def _on_reset(_dbapi: Any, record: ConnectionPoolEntry, _state: Any) -> None:
        # The connection is back in the pool, its transaction committed or rolled back.
        if record.info.pop(_HOLDS_GATE, False):
            gate.leave()

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_dbapi: Any, record: ConnectionPoolEntry, _exc: Any) -> None:
        if record.info.pop(_HOLDS_GATE, False):
            gate.leave()


class _WriteGate:
    """Queues this process's SQLite writers in order, before they ask SQLite for its lock.

    SQLite has one writer at a time; a second connection asking for the lock is put off by
    its busy handler, which sleeps 1, 2, 5 ... 100 ms between tries. Writers of the same
    process wait here instead, first come first served, and are woken the moment the one
    before them returns its connection. Other processes still meet the busy handler.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    def enter(self) -> None:
        """Wait (inside SQLAlchemy's greenlet) for this process's other writers to finish."""
        try:
            await_only(asyncio.wait_for(self._lock.acquire(), WRITE_GATE_TIMEOUT_S))
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE", None, Exception("database is locked")
            ) from None

    def leave(self) -> None:
        if self._lock.locked():
            self._lock.release()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory whose objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
