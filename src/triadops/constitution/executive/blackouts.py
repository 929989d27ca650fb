"""The blackout gate: nothing but an emergency starts executing inside a blackout."""

from __future__ import annotations

from triadops.constitution import lifecycle
from triadops.constitution.lifecycle import Attempt, OperationRule
from triadops.domain.enums import OperationStatus as S
from triadops.domain.errors import Conflict, TriadError
from triadops.domain.operations import utcnow
from triadops.domain.windows import covering
from triadops.storage.tables import OperationRow


def is_emergency(row: OperationRow) -> bool:
    """Whether the stored request asked for emergency treatment (a crown power)."""
    return bool((row.request or {}).get("emergency_priority"))


class OutsideBlackouts(OperationRule):
    """A non-emergency operation starts only outside every blackout."""

    from_states = frozenset({S.SCHEDULED})
    to_states = frozenset({S.EXECUTING})
    reason = "blackouts bind every start but an emergency's, whatever the row's scheduled time"

    def check(self, attempt: Attempt) -> TriadError | None:
        """Refuse a start inside a blackout, or one made without the blackouts in force."""
        if is_emergency(attempt.row):
            return None
        if attempt.by is not None:
            # Only the worker starts an operation (by None). A person's move out of scheduled
            # is a mistaken ruling, which the judiciary's InDoubt refuses with its own reason.
            return None
        if attempt.blackouts is None:
            return Conflict(f"operation {attempt.row.id}: started without the blackouts in force")
        now = attempt.now or utcnow()
        inside = covering(attempt.blackouts, now)
        if inside is None:
            return None
        return Conflict(
            f"operation {attempt.row.id} may not start in a blackout; "
            f"it ends at {inside[1].isoformat()}",
            field="scheduled_time",
        )


lifecycle.OPERATIONS.extend([OutsideBlackouts])
