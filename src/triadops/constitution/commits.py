"""Group commit: many operations' transitions share one durable transaction.

Each unit renews its operation's lease first (refusing work whose lease another worker
took over), then applies its changes; all units of a batch commit together with their
ledger entries, which is how one worker drives hundreds of operations a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.constitution import ledger, lifecycle
from triadops.constitution.crown.service import is_frozen
from triadops.domain.errors import TriadError
from triadops.domain.operations import utcnow
from triadops.storage.operations import renew_leases


class LeaseLost(Exception):
    """The lease expired or another worker took over; this worker must stop touching it."""


@dataclass(frozen=True, slots=True)
class Tick:
    """What a unit learns at commit time, read under the lock it commits with.

    `status` and `plan_hash` are the operation's stored values (None for submissions): a
    unit whose in-memory view differs is working on a superseded state and must not write.
    """

    frozen: bool
    cancel_requested_by: str | None
    status: str | None = None
    plan_hash: str | None = None


Apply = Callable[[AsyncSession, Tick], Awaitable[Any]]


@dataclass
class _Unit:
    operation_id: str | None
    apply: Apply
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    """Collects units from concurrent coroutines and commits them in batches."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, owner: str, lease_s: float
    ) -> None:
        self._sessions = sessions
        self._owner = owner
        self._lease = timedelta(seconds=lease_s)
        self._pending: list[_Unit] = []
        self._wake = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GroupCommitter:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def commit(self, operation_id: str | None, apply: Apply) -> Any:
        """Apply and commit durably (with the others queued now); return what apply returned.

        With an operation id, the unit runs only while this worker still holds its lease.
        A TriadError raised by `apply`, or a database error when its changes are flushed
        (a duplicate key, a value the driver refuses), fails that unit alone.
        """
        unit = _Unit(operation_id, apply)
        self._pending.append(unit)
        self._wake.set()
        return await unit.done

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closed:
                    return
                continue
            # One turn of the loop lets every runnable coroutine queue its unit too.
            await asyncio.sleep(0)
            batch, self._pending = self._pending, []
            await self._flush(batch)

    async def _flush(self, batch: list[_Unit]) -> None:
        applied: list[tuple[_Unit, Any]] = []
        try:
            async with self._sessions() as session:
                frozen = await is_frozen(session)
                leased = [u.operation_id for u in batch if u.operation_id is not None]
                now = utcnow()
                leases = await renew_leases(
                    session, leased, owner=self._owner, now=now, until=now + self._lease
                )
                for unit in batch:
                    tick = Tick(frozen, None)
                    if unit.operation_id is not None:
                        lease = leases.get(unit.operation_id)
                        if lease is None:
                            unit.done.set_exception(LeaseLost(unit.operation_id))
                            continue
                        tick = Tick(
                            frozen, lease.cancel_requested_by, lease.status, lease.plan_hash
                        )
                    # Each unit in a savepoint, flushed: one that breaks a constraint or a
                    # driver's limits fails alone, with its queued ledger entries dropped.
                    mark = ledger.pending_mark(session)
                    savepoint = await session.begin_nested()
                    try:
                        result = await unit.apply(session, tick)
                        await session.flush()
                    except (TriadError, LeaseLost, DBAPIError) as exc:
                        try:
                            await savepoint.rollback()
                        except DBAPIError:
                            # The database already rolled the whole transaction back (SQLite
                            # does on a full disk): every unit fails, with the cause.
                            raise exc from None
                        ledger.discard_after(session, mark)
                        unit.done.set_exception(exc)
                        continue
                    await savepoint.commit()
                    applied.append((unit, result))
                await lifecycle.commit(session)
        except Exception as exc:
            # Nothing of this batch is durable; each operation stops and is recovered from
            # its last commit when its lease expires, exactly as after a crash.
            for unit in batch:
                if not unit.done.done():
                    unit.done.set_exception(exc)
            return
        for unit, result in applied:
            unit.done.set_result(result)


class Submissions:
    """A long-lived group committer for requests arriving together (API, benchmarks).

    Each request is reviewed and stored exactly as ``submit_operation`` does, but requests
    queued at the same moment share one transaction and one lock of the ledger head.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._committer = GroupCommitter(sessions, owner="submissions", lease_s=1.0)
        self._open = False

    async def start(self) -> None:
        """Start the background committer."""
        if not self._open:
            await self._committer.__aenter__()
            self._open = True

    async def stop(self) -> None:
        """Commit what is queued and stop."""
        if self._open:
            await self._committer.__aexit__(None, None, None)
            self._open = False

    async def submit(self, apply: Apply) -> Any:
        """Run `apply` (a submission) in the next group transaction and return its result."""
        await self.start()
        return await self._committer.commit(None, apply)
