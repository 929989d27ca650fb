"""Change-linked silences: a change's own alerts are expected, so they are muted while it runs.

When an approved operation starts executing, a silence scoped to its affected systems (the
``system`` label) opens, tagged with the operation's id; it ends when the judiciary passes
the operation, or when the operation ends any other way (rolled back, failed with nothing to
undo, cancelled). Both happen in the commit that records the transition, read from the
ledger entries the commit links, so no path can skip them. Every such silence also has a
hard end, and the monitoring loop closes and reports any that outlives its operation.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alerts import SILENCERS
from triadops.domain.enums import OperationStatus as S
from triadops.domain.operations import utcnow
from triadops.storage import change_silences as store
from triadops.storage.tables import OperationRow

LAST_S = 6 * 3600.0
"""The longest a change-linked silence lasts, whatever its operation does; the monitoring
loop holds it to ``alerts.change_silence_max_s`` when that is shorter."""
SYSTEM_LABEL = "system"
ENDS = frozenset({S.COMPLETED, S.ROLLED_BACK, S.CANCELLED, S.REJECTED})
"""States in which the change is over. Failed is over too unless a rollback follows it."""


def matchers_for(systems: list[str]) -> list[dict[str, Any]]:
    """Return the matchers of a silence over `systems`: one anchored regex on ``system``."""
    pattern = "|".join(re.escape(s) for s in sorted(set(systems)))
    return [{"name": SYSTEM_LABEL, "op": "=~", "value": f"({pattern})"}]


async def apply(session: AsyncSession) -> None:
    """Open and end the silences the transitions queued in this transaction call for."""
    last: dict[str, tuple[str | None, str | None, str]] = {}
    for entry in ledger.pending(session):
        if entry["event"] == "transition" and entry["operation_id"]:
            last[entry["operation_id"]] = (entry["from_status"], entry["to_status"], entry["actor"])
    if not last:
        return
    now = utcnow()
    # Only operations that start executing or end need their row (a new one's is not loaded).
    involved = [
        op_id
        for op_id, (source, to, _) in last.items()
        if to in ENDS
        or to == S.FAILED.value
        or (to == S.EXECUTING.value and source == S.SCHEDULED.value)
    ]
    rows = {op_id: await session.get(OperationRow, op_id) for op_id in involved}
    # Only a change with affected systems ever has a silence: the others cost no statement.
    ending = [
        op_id
        for op_id, (_, to, _) in last.items()
        if (to in ENDS or to == S.FAILED.value) and _systems(rows.get(op_id))
    ]
    if ending:
        for silence_id, op_id in await store.end_silences(session, ending, now=now):
            ledger.record(
                session,
                actor=last[op_id][2],
                event="change_silence_ended",
                operation_id=op_id,
                details={"silence": silence_id, "status": last[op_id][1]},
                at=now,
            )
    for op_id, (source, target, actor) in last.items():
        if target != S.EXECUTING.value or source != S.SCHEDULED.value:
            continue
        systems = _systems(rows.get(op_id))
        if not systems or await store.has_open_silence(session, op_id, now=now):
            continue
        silence = store.open_silence(
            session,
            operation_id=op_id,
            matchers=matchers_for(systems),
            by=actor,
            now=now,
            last_s=LAST_S,
        )
        ledger.record(
            session,
            actor=actor,
            event="change_silence_opened",
            operation_id=op_id,
            details={"silence": silence.id, "systems": list[JsonValue](sorted(set(systems)))},
            at=now,
        )


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
