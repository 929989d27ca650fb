"""The crown's powers: cancel, freeze, and acknowledgement of emergencies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.actions.registry import ActionRegistry
from triadops.constitution import ledger, lifecycle
from triadops.constitution.guards import Rule, enforce
from triadops.domain.enums import Authority, OperationStatus, StepStatus
from triadops.domain.errors import Conflict, Forbidden
from triadops.domain.events import (
    Acknowledged,
    AcknowledgementOverdue,
    CancelRequested,
    Freeze,
    Refused,
    Unfreeze,
)
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.storage import operations as store
from triadops.storage.tables import CrownStateRow, OperationRow

CROWN = "crown:rules"
S = OperationStatus
_CANCELLABLE = frozenset({S.SUBMITTED, S.AWAITING_APPROVAL, S.APPROVED, S.SCHEDULED})


Cancelling = tuple[OperationRow, Identity]
Switching = tuple[CrownStateRow, Identity]


def requester_or_crown(a: Cancelling) -> Forbidden | None:
    """Withdrawing a request is the requester's right; stopping another's is a crown power."""
    row, by = a
    if by.name == row.requested_by or by.holds(Authority.CROWN):
        return None
    return Forbidden(f"{by.name} neither requested {row.id} nor holds the crown role")


def crown_holds_the_switch(a: Switching) -> Forbidden | None:
    """The emergency brake is the crown's alone."""
    _, by = a
    if by.holds(Authority.CROWN):
        return None
    return Forbidden(f"only the crown may freeze or unfreeze; {by.name} does not hold the role")


def not_already_frozen(a: Switching) -> Conflict | None:
    """A second freeze would hide who froze the work first, and why."""
    state, _ = a
    if not state.frozen:
        return None
    return Conflict(f"already frozen by {state.frozen_by} since {state.frozen_at}")


def frozen_now(a: Switching) -> Conflict | None:
    """Only a freeze can be lifted."""
    state, _ = a
    return None if state.frozen else Conflict("not frozen")


CANCEL_RULES: tuple[Rule[Cancelling], ...] = (requester_or_crown,)
FREEZE_RULES: tuple[Rule[Switching], ...] = (crown_holds_the_switch, not_already_frozen)
UNFREEZE_RULES: tuple[Rule[Switching], ...] = (crown_holds_the_switch, frozen_now)


async def cancel_operation(
    session: AsyncSession, *, operation_id: str, by: Identity, reason: str | None = None
) -> OperationRow:
    """Cancel an operation that has not started; ask a running one to stop.

    A running step whose action is interruptible is stopped at once by the worker running
    it; any other finishes first. ``cancel_answer`` says which. The requester may cancel
    their own; anyone else needs the crown role.
    """
    row = await store.get_operation(session, operation_id, for_update=True)
    enforce(CANCEL_RULES, (row, by))
    why = reason or f"cancelled by {by.name}"
    status = S(row.status)
    if status in _CANCELLABLE and not store.is_leased(row, utcnow()):
        lifecycle.transition(session, row, S.CANCELLED, actor=by.name, reason=why)
        return row
    if status in (S.SCHEDULED, S.EXECUTING):
        if row.cancel_requested_by:
            raise Conflict(f"cancellation of {operation_id} was already requested")
        row.cancel_requested_by = by.name
        ledger.record(session, CancelRequested(reason=why), actor=by.name, operation_id=row.id)
        return row
    raise Conflict(f"operation {operation_id} is {row.status} and can no longer be cancelled")


async def cancel_answer(
    session: AsyncSession, row: OperationRow, *, actions: ActionRegistry
) -> str:
    """Say what a cancel just accepted does next: done, stopping now, or after the step."""
    if row.status == S.CANCELLED.value:
        return "cancelled"
    steps = await store.get_steps(session, row.id)
    running = next((s for s in steps if s.status == StepStatus.RUNNING.value), None)
    if running is None:
        return "cancel requested; stops before its next step, then what ran is rolled back"
    if actions.get(running.action).interruptible:
        return (
            f"stopping now: step {running.index} ({running.action}) is interrupted, "
            "then what ran is rolled back"
        )
    return (
        f"cancel requested; stops after the current step: step {running.index} "
        f"({running.action}) cannot be interrupted, then what ran is rolled back"
    )


async def is_frozen(session: AsyncSession) -> bool:
    """True while the crown holds all forward work."""
    return bool((await store.crown_state(session)).frozen)


async def freeze(session: AsyncSession, *, by: Identity, reason: str) -> CrownStateRow:
    """Hold new and queued operations; running ones stop after their current step."""
    state = await store.crown_state(session)
    enforce(FREEZE_RULES, (state, by))
    state.frozen, state.frozen_by, state.frozen_at = True, by.name, utcnow()
    state.freeze_reason = reason
    ledger.record(session, Freeze(reason=reason), actor=by.name)
    return state


async def unfreeze(session: AsyncSession, *, by: Identity) -> CrownStateRow:
    """Lift the freeze; only the crown may."""
    state = await store.crown_state(session)
    enforce(UNFREEZE_RULES, (state, by))
    ledger.record(
        session, Unfreeze(frozen_by=state.frozen_by, reason=state.freeze_reason), actor=by.name
    )
    state.frozen, state.frozen_by, state.frozen_at, state.freeze_reason = False, None, None, None
    return state


Acknowledging = tuple[OperationRow, Identity]


def is_an_emergency(a: Acknowledging) -> Conflict | None:
    """Only emergency treatment owes the crown an acknowledgement."""
    row, _ = a
    if row.acknowledgement_deadline is not None:
        return None
    return Conflict(f"operation {row.id} is not an emergency; nothing to acknowledge")


def not_yet_acknowledged(a: Acknowledging) -> Conflict | None:
    """One acknowledgement closes the debt; a second would blur who took responsibility."""
    row, _ = a
    if not row.acknowledged_by:
        return None
    return Conflict(f"operation {row.id} was acknowledged by {row.acknowledged_by}")


def not_the_requester(a: Acknowledging) -> Forbidden | None:
    """The crown that invoked an emergency cannot also vouch for it."""
    row, by = a
    if by.name != row.requested_by:
        return None
    return Forbidden(f"{by.name} requested {row.id} and cannot acknowledge it")


ACKNOWLEDGEMENT_RULES: tuple[Rule[Acknowledging], ...] = (
    is_an_emergency,
    not_yet_acknowledged,
    not_the_requester,
)


async def acknowledge(session: AsyncSession, *, operation_id: str, by: Identity) -> OperationRow:
    """Acknowledge an emergency operation, as the crown and not its requester."""
    _require_crown(by, "acknowledge emergencies")
    row = await store.get_operation(session, operation_id, for_update=True)
    enforce(ACKNOWLEDGEMENT_RULES, (row, by))
    assert row.acknowledgement_deadline is not None  # is_an_emergency
    row.acknowledged_by = by.name
    late = utcnow() > row.acknowledgement_deadline
    ledger.record(
        session,
        Acknowledged(late=late, stage_s=_since_created(row)),
        actor=by.name,
        operation_id=row.id,
    )
    return row


async def flag_overdue_acknowledgements(session: AsyncSession, *, now: datetime) -> int:
    """Record each emergency whose acknowledgement deadline passed, once."""
    rows = await store.overdue_acknowledgements(session, now=now)
    for row in rows:
        row.acknowledgement_overdue = True
        deadline = (
            row.acknowledgement_deadline.isoformat() if row.acknowledgement_deadline else None
        )
        ledger.record(
            session,
            AcknowledgementOverdue(deadline=deadline, stage_s=_since_created(row, now=now)),
            actor=CROWN,
            operation_id=row.id,
        )
    return len(rows)


def record_refusal(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    reason: str,
    operation_id: str | None = None,
) -> None:
    """Put a refused attempt at a governance action on the record (in its own transaction).

    The attempt changed nothing; the ledger still says who tried what, and why it was
    refused, so probing the gates leaves a trace.
    """
    # The operation is named in the details only: a refusal may name one that does not
    # exist, and it is not part of any operation's history.
    refused = Refused(action=action[:200], reason=reason[:500])
    if operation_id is not None:
        refused = refused.model_copy(update={"operation": operation_id[:64]})
    ledger.record(session, refused, actor=actor)


def _since_created(row: OperationRow, *, now: datetime | None = None) -> float:
    """Seconds since the operation was created: the crown's stage, for its stage totals."""
    return round(max(0.0, ((now or utcnow()) - row.created_at).total_seconds()), 6)


def _require_crown(by: Identity, what: str) -> None:
    if not by.holds(Authority.CROWN):
        raise Forbidden(f"only the crown may {what}; {by.name} does not hold the crown role")
