"""The ledger: an append-only hash chain over canonical JSON, shared by all four branches.

Entries are buffered on the session as transitions happen and linked in one go when the
transaction commits (``lifecycle.commit``), so a transition and its entry always share a
transaction and a batch of transitions costs one lock of the head.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from triadops.domain.chain import GENESIS_HASH, StoredLinkHasher, link_hash
from triadops.domain.events import LedgerEvent, Queued
from triadops.domain.ledger import LedgerEntry, VerifyReport
from triadops.domain.operations import utcnow
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerRow

_log = structlog.stdlib.get_logger(__name__)
_PENDING = "triad_ledger_pending"
_LINKED = "triad_ledger_linked"
_QUEUED = "triad_ledger_queued"


def record(
    session: AsyncSession,
    event: LedgerEvent,
    *,
    actor: str,
    operation_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Queue `event` to be linked into the chain when this transaction commits.

    `operation_id` is the entry's subject (an operation's id, or ``alert:<id>``).
    """
    from_status, to_status = event.statuses()
    when = at or utcnow()
    info = session.info
    pending: list[dict[str, Any]] = info.setdefault(_PENDING, [])
    pending.append(
        {
            "at": when,
            "actor": actor,
            "event": event.kind,
            "operation_id": operation_id,
            "from_status": from_status,
            "to_status": to_status,
            "details": event.details(),
        }
    )
    info.setdefault(_QUEUED, []).append(Queued(event, actor, operation_id, when))


def pending(session: AsyncSession) -> list[dict[str, Any]]:
    """Return the entries queued in this transaction and not yet linked, oldest first."""
    queued: list[dict[str, Any]] = session.info.get(_PENDING, [])
    return queued


def queued(session: AsyncSession) -> list[Queued]:
    """Return the events queued in this transaction and not yet linked, as typed events."""
    events: list[Queued] = session.info.get(_QUEUED, [])
    return events


def pending_mark(session: AsyncSession) -> int:
    """Return how many entries are queued now, to discard what a failed unit queued after."""
    return len(session.info.get(_PENDING, []))


def discard_after(session: AsyncSession, mark: int) -> None:
    """Drop the entries queued after `mark` (their changes were rolled back)."""
    pending: list[dict[str, Any]] = session.info.get(_PENDING, [])
    del pending[mark:]
    events: list[Queued] = session.info.get(_QUEUED, [])
    del events[mark:]


async def flush(session: AsyncSession) -> int:
    """Link and insert the queued entries; return how many were written."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    session.info.pop(_QUEUED, None)
    if not pending:
        return 0
    seq, prev = await store.lock_head(session)
    links = []
    for entry in pending:
        seq += 1
        row = LedgerRow(seq=seq, prev_hash=prev, **entry)
        digest = link_hash(prev, store.entry_body(row))
        links.append({**entry, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    await store.append_links(session, links)
    session.info.setdefault(_LINKED, []).extend(links)
    return len(links)


BRANCH_ACTORS = ("legislative", "executive", "judicial", "crown")
_PEOPLES = {
    "submitted": "legislative",
    "approval": "legislative",
    "step_ruled": "judicial",
    "standard_granted": "legislative",
    "standard_declined": "legislative",
    "standard_revoked": "legislative",
}
"""Where a person's entry goes: a request, an approval or a standing is the legislature's."""
_SYSTEMS = ("alert_", "notification_", "silence_", "change_silence_", "maintenance_task_")
"""Entries of the monitor, alerts and the scheduler: the ``system`` stream."""


def stream_of(actor: str, kind: str) -> str:
    """The log stream of a ledger entry: its actor's branch, else its kind's, else the crown's."""
    prefix = actor.split(":", 1)[0]
    if prefix in BRANCH_ACTORS:
        return prefix
    if kind.startswith(_SYSTEMS) or kind == "alert_group_flushed":
        return "system"
    return _PEOPLES.get(kind, "crown")


def linked_mark(session: AsyncSession) -> int:
    """How many entries this session has linked so far (what `log_linked` starts after)."""
    return len(session.info.get(_LINKED, []))


def log_linked(session: AsyncSession, mark: int) -> None:
    """Log each entry linked after `mark`, once committed: one line in its maker's stream.

    The stream is the branch of its actor (``executive:w``); a person's request or approval
    goes to the legislature's, alerts' and tasks' to ``system``, the rest (acknowledgements,
    freezes, tokens) to the crown's, which keeps the ledger.
    """
    links: list[dict[str, Any]] = session.info.get(_LINKED, [])
    for link in links[mark:]:
        actor = str(link["actor"])
        _log.info(
            "ledger entry",
            seq=link["seq"],
            kind=link["event"],
            actor=actor,
            operation_id=link["operation_id"],
            to_status=link["to_status"],
            branch=stream_of(actor, str(link["event"])),
        )


def linked_in(session: AsyncSession, operation_id: str) -> list[LedgerEntry]:
    """Return the entries about one operation this session linked, in seq order.

    Read after commit, they show a caller what it wrote without reading it back.
    """
    links: list[dict[str, Any]] = session.info.get(_LINKED, [])
    return [LedgerEntry.model_validate(x) for x in links if x["operation_id"] == operation_id]


@event.listens_for(Session, "before_commit")
def _refuse_unlinked_commits(sync_session: Session) -> None:
    """Make a commit with queued but unlinked entries fail loudly instead of losing them.

    Installed on every session of the process as this module is imported: a state change
    committed without its ledger entry is a bug, in production as in tests.
    """
    if sync_session.in_nested_transaction():
        return  # releasing a savepoint; the outer commit links the entries
    if sync_session.info.get(_PENDING):
        raise RuntimeError("ledger entries queued but not linked: use lifecycle.commit")


class ChainWalk:
    """Check links as they stream past in seq order; remember the first that does not fit.

    Catches edits (hash mismatch), deletions and insertions (seq gaps or prev_hash breaks),
    reordering (prev_hash breaks) and, with :meth:`check_head`, a truncated tail (the head
    points past the end). After the first break the rest are not judged.
    """

    __slots__ = ("_hasher", "checked", "expected_seq", "first_bad_seq", "prev", "problem")

    def __init__(self) -> None:
        self.expected_seq, self.prev, self.checked = 1, GENESIS_HASH, 0
        self.first_bad_seq: int | None = None
        self.problem: str | None = None
        self._hasher = StoredLinkHasher()

    def check(self, links: Sequence[store.StoredLink]) -> list[Any]:
        """Check the next links; return each one's details, decoded, for a replay."""
        decode, digest, hashed_at = self._hasher.decode, self._hasher.digest, store.hashed_at
        decoded: list[Any] = []
        for link in links:
            seq, at, actor, event, op_id, from_, to, text, prev, stored, at_text = link
            if isinstance(text, str):
                try:
                    details, readable = decode(text), True
                except ValueError:  # not JSON: no writer stored it
                    details, readable = None, False
            else:
                # SQLite's NUMERIC affinity (a JSON column) keeps a top-level number as
                # one, and SQLAlchemy hands it back as it is; anything else was forged.
                details, readable = text, isinstance(text, int | float)
            decoded.append(details)
            if self.problem is not None:
                continue
            if seq != self.expected_seq:
                problem = (
                    f"expected entry {self.expected_seq} but found {seq} (deleted or inserted)"
                )
            elif prev != self.prev:
                problem = "its prev_hash does not match the entry before it (inserted or reordered)"
            else:
                hashed = None if not readable else at_text or hashed_at(at)
                body = {
                    "seq": seq,
                    "at": hashed,
                    "actor": actor,
                    "event": event,
                    "operation_id": op_id,
                    "from_status": from_,
                    "to_status": to,
                    "details": details,
                }
                if hashed is not None and digest(prev, body) == stored:
                    self.checked += 1
                    self.expected_seq, self.prev = seq + 1, stored
                    continue
                problem = "its content does not match its hash (edited)"
            self.first_bad_seq, self.problem = seq, problem
        return decoded

    def check_head(self, head_seq: int, head_hash: str) -> None:
        """Check that the head points at the last link walked."""
        if self.problem is None and (head_seq != self.checked or head_hash != self.prev):
            self.first_bad_seq = self.checked + 1 if head_seq > self.checked else head_seq
            self.problem = (
                f"the chain ends at {self.checked} but its head says {head_seq} (truncated)"
            )

    def report(self) -> VerifyReport:
        """Return the chain's verdict."""
        return VerifyReport(
            ok=self.problem is None,
            entries_checked=self.checked,
            first_bad_seq=self.first_bad_seq,
            problem=self.problem,
        )


class Pacer:
    """Share the event loop with requests made while a long walk computes between batches.

    Call :meth:`turn` after each batch. It yields, and if other work ran in that turn, it
    also idles as long as the batch took, after this batch and the next `linger` ones:
    while others use the loop, the walk takes half of it. A yield alone is not enough: a
    request waits on database threads that need the GIL the walk holds while it computes,
    and gets it only when the walk blocks or after the interpreter's 5 ms switch interval,
    so it would make one round trip per batch; idling lets its round trips follow one
    another. Other work is seen as CPU time this thread spent in the yield (wall time
    would count the walk's own preemption); a walk alone never idles.
    """

    __slots__ = ("_bare", "_idle", "_left", "_since", "busy_s", "linger")

    def __init__(
        self,
        *,
        linger: int = 32,
        busy_s: float = 0.002,
        idle: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.linger, self.busy_s, self._idle = linger, busy_s, idle
        self._left = 0
        self._since = time.perf_counter()
        # A bare yield costs this thread some CPU too (the loop's poll: 0.04 to 0.5 ms of
        # thread time on these virtual machines, quiet or not): others' work is what a yield
        # costs beyond the cheapest seen, by more than `busy_s` (a request's own work is
        # milliseconds; a threshold inside the poll's noise had a walk alone idle half its
        # turns, doubling its time).
        self._bare = math.inf

    async def turn(self) -> None:
        """Give the loop a turn, and as long again while others are using it."""
        spent = time.perf_counter() - self._since
        started = time.thread_time()
        await asyncio.sleep(0)
        cost = time.thread_time() - started
        self._bare = min(self._bare, cost)
        if cost - self._bare > self.busy_s:
            self._left = self.linger + 1
        if self._left:
            self._left -= 1
            await self._idle(spent)
        self._since = time.perf_counter()


async def verify(session: AsyncSession) -> VerifyReport:
    """Walk the whole chain and name the first entry that does not fit.

    This proves only that the ledger agrees with itself; ``audit.verify`` also replays it
    against the stored state.
    """
    walk, pacer = ChainWalk(), Pacer()
    async with aclosing(store.iterate_link_batches(session)) as batches:
        async for links in batches:
            walk.check(links)
            if walk.problem is not None:
                return walk.report()
            await pacer.turn()
    walk.check_head(*await store.head(session))
    return walk.report()


def to_entry(row: LedgerRow) -> LedgerEntry:
    """Return the domain view of a stored link."""
    return LedgerEntry.model_validate(row, from_attributes=True)
