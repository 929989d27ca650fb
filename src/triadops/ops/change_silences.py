"""Change-linked silences: a change's own alerts are expected, so they are muted while it runs.

When an approved operation starts executing, a silence scoped to its affected systems (the
``system`` label) opens, tagged with the operation's id and filed under its requester: the
change mutes only what its requester could have muted by hand, and never a critical or an
emergency (a matcher excludes them, and silences judge an alert by its own severity however
it was given). It ends when execution ends and the judiciary starts measuring, or when the
operation ends any other way (failed, cancelled). Both happen in the commit that records the
transition: `on_commit` is a commit subscriber (``constitution.subscribers``) the runtime
registers, so no path can skip them. Every such silence also has a hard end, and the
monitoring loop closes and reports any that outlives its operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alerts import SILENCERS
from triadops.domain.change_silences import LAST_S, matchers_for
from triadops.domain.enums import OperationStatus as S
from triadops.domain.events import ChangeSilenceEnded, ChangeSilenceOpened, Queued, Transition
from triadops.domain.operations import utcnow
from triadops.storage import change_silences as store
from triadops.storage.tables import OperationRow

ENDS = frozenset({S.VALIDATING, S.COMPLETED, S.ROLLED_BACK, S.CANCELLED, S.REJECTED})
"""States in which the change's own noise is over: execution ended (validating measures the
system as it now is), or the operation did. Failed too, whether or not a rollback follows."""

Move = tuple[str | None, str | None, str]
"""An operation's (from, to, actor) in its last transition of the transaction."""


def last_moves(entries: Sequence[Queued]) -> dict[str, Move]:
    """Each operation's last transition among the queued ledger `entries`."""
    last: dict[str, Move] = {}
    for entry in entries:
        moved = entry.event
        if isinstance(moved, Transition) and entry.subject:
            last[entry.subject] = (moved.from_status, moved.to_status, entry.actor)
    return last


async def on_commit(session: AsyncSession, entries: Sequence[Queued]) -> None:
    """Open and end the silences the transitions queued in this transaction call for."""
    last = last_moves(entries)
    if not last:
        return
    now = utcnow()
    # Only operations that start executing or end need their row (a new one's is not loaded).
    involved = [
        op_id for op_id, (source, to, _) in last.items() if _ends(to) or _starts(source, to)
    ]
    rows = {op_id: await session.get(OperationRow, op_id) for op_id in involved}
    # Only a change with affected systems ever has a silence: the others cost no statement.
    ending = [
        op_id for op_id, (_, to, _) in last.items() if _ends(to) and _systems(rows.get(op_id))
    ]
    if ending:
        for silence_id, op_id in await store.end_silences(session, ending, now=now):
            ledger.record(
                session,
                ChangeSilenceEnded(silence=silence_id, status=last[op_id][1]),
                actor=last[op_id][2],
                operation_id=op_id,
                at=now,
            )
    for op_id, (source, target, actor) in last.items():
        row = rows.get(op_id)
        if row is not None and _starts(source, target):
            await _open(session, row, opened_by=actor, now=now)


async def _open(session: AsyncSession, row: OperationRow, *, opened_by: str, now: datetime) -> None:
    """Open `row`'s change silence over its systems, unless it has none or one is open."""
    systems = _systems(row)
    if not systems or await store.has_open_silence(session, row.id, now=now):
        return
    matchers = matchers_for(systems)
    # Filed under the requester, on whose word it mutes; the worker only opened it.
    silence = store.open_silence(
        session, operation_id=row.id, matchers=matchers, by=row.requested_by, now=now, last_s=LAST_S
    )
    ledger.record(
        session,
        ChangeSilenceOpened(
            silence=silence.id,
            systems=list[JsonValue](sorted(set(systems))),
            matchers=list[JsonValue](matchers),
            opened_by=opened_by,
        ),
        actor=row.requested_by,
        operation_id=row.id,
        at=now,
    )


def _ends(target: str | None) -> bool:
    """True for a transition after which the change's own noise is over."""
    return target in ENDS or target == S.FAILED.value


def _starts(source: str | None, target: str | None) -> bool:
    """True for the transition that starts a change executing."""
    return target == S.EXECUTING.value and source == S.SCHEDULED.value


def _systems(row: OperationRow | None) -> list[str]:
    """The systems a change may mute: those its request says it affects.

    None for an operation invoked under an authority that may not silence (the judiciary):
    review checked on the server that the requester holds the authority it invokes, so a
    change mutes only what its requester could have muted by hand.
    """
    if row is None:
        return []
    if (row.request or {}).get("constitutional_authority") not in {a.value for a in SILENCERS}:
        return []
    return [str(s) for s in (row.request or {}).get("affected_systems") or []]
