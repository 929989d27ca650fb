"""The window gate: work that needs a maintenance window starts only inside it.

Beside the blackout gate, on the same edge and in the same pattern. The worker, finding a
claimed operation outside its window (or inside a blackout), does not fail it: it moves the
operation's time to the next slot that fits and records the move (`reschedule`), so the row
and the ledger say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger, lifecycle
from triadops.constitution.lifecycle import Attempt, OperationRule
from triadops.domain.enums import OperationStatus as S
from triadops.domain.errors import Conflict, TriadError
from triadops.domain.events import Rescheduled
from triadops.domain.operations import StoredRequest, utcnow
from triadops.domain.windows import (
    HORIZON,
    Blackout,
    MaintenanceWindow,
    covering,
    named,
    next_slot,
)
from triadops.storage.tables import OperationRow


def needed_window(row: OperationRow) -> str | None:
    """The window the stored request needs, or None (read through the domain model).

    None for an emergency: the legislature never places one, so no gate may hold it.
    """
    stored = StoredRequest.model_validate(row.request or {})
    return None if stored.is_emergency else stored.window


class InsideItsWindow(OperationRule):
    """An operation that needs a window starts only inside an occurrence of it."""

    from_states = frozenset({S.SCHEDULED})
    to_states = frozenset({S.EXECUTING})
    reason = "work that needs a window starts only inside it, whatever the row's scheduled time"

    def check(self, attempt: Attempt) -> TriadError | None:
        """Refuse a start outside the needed window, or one made without the windows."""
        row = attempt.row
        if attempt.by is not None:
            return None  # only the worker starts an operation (by None), as with blackouts
        window = needed_window(row)
        if window is None:
            return None
        if attempt.windows is None:
            return Conflict(f"operation {row.id}: started without the windows in force")
        now = attempt.now or utcnow()
        if covering(named(attempt.windows, window), now) is not None:
            return None
        return Conflict(
            f"operation {row.id} needs window {window} and may not start outside it",
            field="scheduled_time",
        )


lifecycle.OPERATIONS.extend([InsideItsWindow])


def waits_until(
    row: OperationRow,
    *,
    windows: Sequence[MaintenanceWindow],
    blackouts: Sequence[Blackout],
    now: datetime,
) -> Rescheduled | None:
    """Return the move a claimed operation must make before it may start, or None."""
    inside = covering(blackouts, now)
    window = needed_window(row)
    if window is None:
        if inside is None:
            return None
        return Rescheduled(
            at=inside[1].isoformat(),
            because="blackout",
            reason=f"in a blackout until {inside[1].isoformat()}",
        )
    allowed = named(windows, window)
    if inside is None and covering(allowed, now) is not None:
        return None
    due = next_slot(allowed, list(blackouts), now)
    if due is None:  # the window was removed, or never opens clear of the blackouts
        due = now + HORIZON
        said = f"no slot of window {window} within {HORIZON.days} days; looks again then"
    else:
        where = "in a blackout" if inside is not None else f"outside window {window}"
        said = f"{where}; next slot that fits: {due.isoformat()}"
    return Rescheduled(
        at=due.isoformat(), because="blackout" if inside is not None else "window", reason=said
    )


def reschedule(session: AsyncSession, row: OperationRow, move: Rescheduled, *, actor: str) -> None:
    """Move the operation's time as `move` says, recorded in the same transaction."""
    row.scheduled_time = datetime.fromisoformat(move.at)
    ledger.record(session, move, actor=actor, operation_id=row.id)
