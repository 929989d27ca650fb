"""The crown's powers: cancel, freeze, and acknowledgement of emergencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.actions.registry import ActionRegistry
from triadops.constitution import ledger, lifecycle
from triadops.constitution.lifecycle import Attempt, OperationRule, RequesterOr
from triadops.domain.enums import Authority, OperationStatus, StepStatus
from triadops.domain.errors import Conflict, Forbidden, TriadError
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
from triadops.domain.rules import Rule, RuleBook
from triadops.storage import operations as store
from triadops.storage.tables import CrownStateRow, OperationRow

CROWN = "crown:rules"
S = OperationStatus
_CANCELLABLE = frozenset({S.SUBMITTED, S.AWAITING_APPROVAL, S.APPROVED, S.SCHEDULED})
_CANCELLED = frozenset({S.CANCELLED})


def _withdrawable(a: Attempt) -> bool:
    """Whether a cancel ends the operation at once (no worker holds it yet)."""
    return S(a.row.status) in _CANCELLABLE and not store.is_leased(a.row, a.now or utcnow())


class RequesterOrCrown(RequesterOr):
    """Withdrawing a request is the requester's right; stopping another's is a crown power."""

    to_states = _CANCELLED
    reason = "withdrawing a request is the requester's right; stopping another's, the crown's"
    authority = Authority.CROWN


class StillCancellable(OperationRule):
    """Only work not yet finished can be cancelled or asked to stop."""

    to_states = _CANCELLED
    reason = "a finished operation keeps its outcome"

    def check(self, attempt: Attempt) -> TriadError | None:
        row = attempt.row
        if attempt.by is None or _withdrawable(attempt):
            return None
        if row.status in (S.SCHEDULED.value, S.EXECUTING.value):
            return None
        return Conflict(f"operation {row.id} is {row.status} and can no longer be cancelled")


class AskedToStopOnce(OperationRule):
    """A second request to stop would hide who asked first."""

    to_states = _CANCELLED
    reason = "one request to stop: the first asker stays on the record"

    def check(self, attempt: Attempt) -> TriadError | None:
        row = attempt.row
        if attempt.by is None or _withdrawable(attempt) or not row.cancel_requested_by:
            return None
        return Conflict(f"cancellation of {row.id} was already requested")


lifecycle.OPERATIONS.extend([RequesterOrCrown, StillCancellable, AskedToStopOnce])


@dataclass(frozen=True, slots=True)
class Switching:
    """A freeze or unfreeze, as the switch's rules see it."""

    state: CrownStateRow
    by: Identity


class CrownHoldsTheSwitch(Rule[bool, Switching]):
    """The emergency brake is the crown's alone."""

    reason = "the emergency brake is the crown's alone"

    def check(self, attempt: Switching) -> TriadError | None:
        by = attempt.by
        if by.holds(Authority.CROWN):
            return None
        return Forbidden(f"only the crown may freeze or unfreeze; {by.name} does not hold the role")


class NotAlreadyFrozen(Rule[bool, Switching]):
    """A second freeze would hide who froze the work first, and why."""

    to_states = frozenset({True})
    reason = "a second freeze would hide who froze the work first, and why"

    def check(self, attempt: Switching) -> TriadError | None:
        state = attempt.state
        if not state.frozen:
            return None
        return Conflict(f"already frozen by {state.frozen_by} since {state.frozen_at}")


class FrozenNow(Rule[bool, Switching]):
    """Only a freeze can be lifted."""

    to_states = frozenset({False})
    reason = "only a freeze can be lifted"

    def check(self, attempt: Switching) -> TriadError | None:
        return None if attempt.state.frozen else Conflict("not frozen")


SWITCH: RuleBook[bool, Switching] = RuleBook(
    "crown switch",
    {False: frozenset({True}), True: frozenset({False})},
    [CrownHoldsTheSwitch, NotAlreadyFrozen, FrozenNow],
)
"""The crown's freeze, a state of the crown (frozen or not) rather than of an operation."""


async def cancel_operation(
    session: AsyncSession, *, operation_id: str, by: Identity, reason: str | None = None
) -> OperationRow:
    """Cancel an operation that has not started; ask a running one to stop.

    A running step whose action is interruptible is stopped at once by the worker running
    it; any other finishes first. ``cancel_answer`` says which. The requester may cancel
    their own; anyone else needs the crown role.
    """
    row = await store.get_operation(session, operation_id, for_update=True)
    attempt = Attempt(row, by.name, by, now=utcnow())
    lifecycle.OPERATIONS.screen(S(row.status), S.CANCELLED, attempt)
    why = reason or f"cancelled by {by.name}"
    if _withdrawable(attempt):
        lifecycle.transition(session, attempt, S.CANCELLED, reason=why)
        return row
    # Running (the rules let nothing else through): ask its worker to stop.
    row.cancel_requested_by = by.name
    ledger.record(session, CancelRequested(reason=why), actor=by.name, operation_id=row.id)
    return row


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
    SWITCH.screen(bool(state.frozen), True, Switching(state, by))
    state.frozen, state.frozen_by, state.frozen_at = True, by.name, utcnow()
    state.freeze_reason = reason
    ledger.record(session, Freeze(reason=reason), actor=by.name)
    return state


async def unfreeze(session: AsyncSession, *, by: Identity) -> CrownStateRow:
    """Lift the freeze; only the crown may."""
    state = await store.crown_state(session)
    SWITCH.screen(bool(state.frozen), False, Switching(state, by))
    ledger.record(
        session, Unfreeze(frozen_by=state.frozen_by, reason=state.freeze_reason), actor=by.name
    )
    state.frozen, state.frozen_by, state.frozen_at, state.freeze_reason = False, None, None, None
    return state


@dataclass(frozen=True, slots=True)
class Acknowledging:
    """An acknowledgement, as its rules see it."""

    by: Identity
    row: OperationRow | None = None
    """None before the row is read: only who asks is weighed then, so a principal without
    the power learns nothing of which operations exist."""


class CrownAcknowledges(Rule[bool, Acknowledging]):
    """Vouching for an emergency is the crown's power."""

    reason = "vouching for an emergency is the crown's power"

    def check(self, attempt: Acknowledging) -> TriadError | None:
        by = attempt.by
        if by.holds(Authority.CROWN):
            return None
        return Forbidden(
            f"only the crown may acknowledge emergencies; {by.name} does not hold the crown role"
        )


class IsAnEmergency(Rule[bool, Acknowledging]):
    """Only emergency treatment owes the crown an acknowledgement."""

    reason = "only emergency treatment owes the crown an acknowledgement"

    def check(self, attempt: Acknowledging) -> TriadError | None:
        row = attempt.row
        if row is None or row.acknowledgement_deadline is not None:
            return None
        return Conflict(f"operation {row.id} is not an emergency; nothing to acknowledge")


class NotYetAcknowledged(Rule[bool, Acknowledging]):
    """One acknowledgement closes the debt; a second would blur who took responsibility."""

    reason = "one acknowledgement closes the debt; a second would blur who took responsibility"

    def check(self, attempt: Acknowledging) -> TriadError | None:
        row = attempt.row
        if row is None or not row.acknowledged_by:
            return None
        return Conflict(f"operation {row.id} was acknowledged by {row.acknowledged_by}")


class NotTheRequester(Rule[bool, Acknowledging]):
    """The crown that invoked an emergency cannot also vouch for it."""

    reason = "the crown that invoked an emergency cannot also vouch for it"

    def check(self, attempt: Acknowledging) -> TriadError | None:
        row, by = attempt.row, attempt.by
        if row is None or by.name != row.requested_by:
            return None
        return Forbidden(f"{by.name} requested {row.id} and cannot acknowledge it")


ACKNOWLEDGEMENT: RuleBook[bool, Acknowledging] = RuleBook(
    "acknowledgement",
    {False: frozenset({True})},
    [CrownAcknowledges, IsAnEmergency, NotYetAcknowledged, NotTheRequester],
)
"""An emergency's acknowledgement: owed (False), then given (True)."""


async def acknowledge(session: AsyncSession, *, operation_id: str, by: Identity) -> OperationRow:
    """Acknowledge an emergency operation, as the crown and not its requester."""
    ACKNOWLEDGEMENT.screen(False, True, Acknowledging(by))
    row = await store.get_operation(session, operation_id, for_update=True)
    ACKNOWLEDGEMENT.screen(bool(row.acknowledged_by), True, Acknowledging(by, row))
    assert row.acknowledgement_deadline is not None  # IsAnEmergency
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
