"""Change-linked silences: a change's own alerts are expected, so they are muted while it runs.

When an approved operation starts executing, a silence scoped to its affected systems (the
``system`` label) opens, tagged with the operation's id and filed under its requester: the
change mutes only what its requester could have muted by hand, and never a critical or an
emergency (a matcher excludes them, and silences judge an alert by its own severity however
it was given). It ends when execution ends and the judiciary starts measuring, or when the
operation ends any other way (failed, cancelled). Both happen in the commit that records the
transition, read from the ledger entries the commit links, so no path can skip them. Every
such silence also has a hard end, and the monitoring loop closes and reports any that
outlives its operation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.alerts import SILENCERS, Severity
from triadops.domain.enums import OperationStatus as S
from triadops.domain.events import ChangeSilenceEnded, ChangeSilenceOpened
from triadops.domain.operations import utcnow
from triadops.storage import change_silences as store
from triadops.storage.tables import OperationRow

LAST_S = 6 * 3600.0
"""The longest a change-linked silence lasts, whatever its operation does; the monitoring
loop holds it to ``alerts.change_silence_max_s`` when that is shorter."""
SYSTEM_LABEL = "system"
"""The label that names the system an alert is about: what a change silences, and what the
judiciary reads as evidence against a change (see `names_system`)."""
SPARED = (Severity.CRITICAL, Severity.EMERGENCY)
"""Severities a change never mutes: they reach their people whatever is being changed."""
ENDS = frozenset({S.VALIDATING, S.COMPLETED, S.ROLLED_BACK, S.CANCELLED, S.REJECTED})
"""States in which the change's own noise is over: execution ended (validating measures the
system as it now is), or the operation did. Failed too, whether or not a rollback follows."""


def matchers_for(systems: list[str], *, spare_loud: bool = True) -> list[dict[str, Any]]:
    """Return the matchers of a silence over `systems`: an anchored regex on ``system``.

    With `spare_loud` (every silence opened since critical alerts were spared), a second
    matcher leaves critical and emergency alerts sounding; without it, the matchers that
    silences opened before stored, which the audit replays.
    """
    pattern = "|".join(re.escape(s) for s in sorted(set(systems)))
    matchers: list[dict[str, Any]] = [{"name": SYSTEM_LABEL, "op": "=~", "value": f"({pattern})"}]
    if spare_loud:
        loud = "|".join(s.value for s in SPARED)
        matchers.append({"name": "severity", "op": "!~", "value": f"({loud})"})
    return matchers


def names_system(labels: Mapping[str, Any], systems: Collection[str]) -> bool:
    """True when an alert's `labels` name one of `systems` (the label a change silences)."""
    return str(labels.get(SYSTEM_LABEL, "")) in set(systems)


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
        if to in ENDS or to == S.FAILED.value or _starts(source, to)
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
                ChangeSilenceEnded(silence=silence_id, status=last[op_id][1]),
                actor=last[op_id][2],
                operation_id=op_id,
                at=now,
            )
    for op_id, (source, target, actor) in last.items():
        row = rows.get(op_id)
        if row is None or not _starts(source, target):
            continue
        systems = _systems(row)
        if not systems or await store.has_open_silence(session, op_id, now=now):
            continue
        matchers = matchers_for(systems)
        # Filed under the requester, on whose word it mutes; the worker only opened it.
        silence = store.open_silence(
            session,
            operation_id=op_id,
            matchers=matchers,
            by=row.requested_by,
            now=now,
            last_s=LAST_S,
        )
        ledger.record(
            session,
            ChangeSilenceOpened(
                silence=silence.id,
                systems=list[JsonValue](sorted(set(systems))),
                matchers=list[JsonValue](matchers),
                opened_by=actor,
            ),
            actor=row.requested_by,
            operation_id=op_id,
            at=now,
        )


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
