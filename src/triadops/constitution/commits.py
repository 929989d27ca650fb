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
from triadops.constitution.claims import LeaseLost as LeaseLost
from triadops.constitution.claims import Tick as Tick
from triadops.constitution.crown.service import is_frozen
from triadops.domain.errors import TriadError
from triadops.domain.operations import utcnow
from triadops.storage.operations import renew_leases

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
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        owner: str,
        lease_s: float,
        rerunnable: bool = False,
    ) -> None:
        """Commit units in batches; `rerunnable` units may be applied twice.

        Such units only add new rows, so a batch that a database error refuses is run again
        unit by unit, each in a savepoint, and the offender fails alone.
        """
        self._sessions = sessions
        self._rerunnable = rerunnable
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
        A TriadError raised by `apply` fails that unit alone; so does a database error
        (a duplicate key, a value the driver refuses) when the units can run again.
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
        try:
            applied = await self._commit_batch(batch, alone=False)
        except DBAPIError as exc:
            if not self._rerunnable:
                self._fail_rest(batch, exc)
                return
            # Which unit broke a constraint or the driver's limits? Run them again, each in
            # its own savepoint: the offender fails alone, the others commit.
            try:
                applied = await self._commit_batch(batch, alone=True)
            except Exception as again:
                self._fail_rest(batch, again)
                return
        except Exception as exc:
            self._fail_rest(batch, exc)
            return
        for unit, result in applied:
            unit.done.set_result(result)

    @staticmethod
    def _fail_rest(batch: list[_Unit], exc: BaseException) -> None:
        # Nothing of this batch is durable; each operation stops and is recovered from
        # its last commit when its lease expires, exactly as after a crash.
        for unit in batch:
            if not unit.done.done():
                unit.done.set_exception(exc)

    async def _commit_batch(self, batch: list[_Unit], *, alone: bool) -> list[tuple[_Unit, Any]]:
        """Apply the batch's units and commit once; with `alone`, each in a savepoint.

        The fast path flushes once for the whole batch. Units refused by a TriadError or a
        lost lease fail before they change anything, as services do.
        """
        applied: list[tuple[_Unit, Any]] = []
        async with self._sessions() as session:
            leased = [u.operation_id for u in batch if u.operation_id is not None]
            now = utcnow()
            # The statement that renews the leases also reads the freeze flag: one gate.
            leases = await renew_leases(
                session, leased, owner=self._owner, now=now, until=now + self._lease
            )
            unleased = len(leased) < len(batch)
            frozen = await is_frozen(session) if unleased else False
            for unit in batch:
                if unit.done.done():
                    continue
                tick = Tick(frozen, None)
                if unit.operation_id is not None:
                    lease = leases.get(unit.operation_id)
                    if lease is None:
                        unit.done.set_exception(LeaseLost(unit.operation_id))
                        continue
                    tick = Tick(
                        lease.frozen, lease.cancel_requested_by, lease.status, lease.plan_hash
                    )
                if not alone:
                    try:
                        applied.append((unit, await unit.apply(session, tick)))
                    except (TriadError, LeaseLost) as exc:
                        unit.done.set_exception(exc)
                    continue
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
        return applied


class Submissions:
    """A long-lived group committer for requests arriving together (API, benchmarks).

    Each request is reviewed and stored exactly as ``submit_operation`` does, but requests
    queued at the same moment share one transaction and one lock of the ledger head.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        # Submissions only add rows built from a finished review, so they can run again.
        self._committer = GroupCommitter(
            sessions, owner="submissions", lease_s=1.0, rerunnable=True
        )
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
