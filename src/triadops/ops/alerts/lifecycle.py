"""The alert and silence lifecycles: their transition tables, and the one way a state changes.

An alert fires (or is muted at once), is acknowledged, muted and released by silences,
fires again when an acknowledgement goes quiet, and is resolved; a resolved alert is
history, and the same labels firing again open a new one. Every change of a stored alert's
state goes through :func:`transition`: it enforces the edge and the rules that guard it
(`policy`), sets the state and queues the ledger entry (`events.record_alert`), in the
caller's transaction. The engine decides a batch in memory: it moves the alerts it holds
with :func:`move` (the same table, the same rules) and the service records the batch's
entries once it is stored.

Rules are looked at before the edge, so a refusal says why (``alert 7 was resolved by
ann``) rather than only that a resolved alert cannot move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.domain.alerts import AlertState
from triadops.domain.errors import Conflict, TriadError
from triadops.domain.rules import RuleBook
from triadops.ops.alerts import events
from triadops.ops.alerts.policy import ALERT_RULES, Act, Actor, Attempt, Poster, actor_name
from triadops.ops.alerts.silence_policy import SILENCE_RULES, SilenceAttempt, SilenceState

if TYPE_CHECKING:
    from datetime import datetime

    from triadops.ops.alerts.engine import Tracked
    from triadops.storage.tables import AlertRow, SilenceRow

FIRING, ACKNOWLEDGED = AlertState.FIRING, AlertState.ACKNOWLEDGED
SILENCED, RESOLVED = AlertState.SILENCED, AlertState.RESOLVED

ALERT_EDGES: dict[AlertState, frozenset[AlertState]] = {
    # Firing → firing: an escalation step or a new annotation, recorded, no change of state.
    FIRING: frozenset({FIRING, ACKNOWLEDGED, SILENCED, RESOLVED}),
    # Acknowledged → firing: the acknowledgement went quiet and the alert fires again.
    ACKNOWLEDGED: frozenset({ACKNOWLEDGED, FIRING, SILENCED, RESOLVED}),
    # Silenced → silenced: acknowledged while muted, or moved to another silence.
    SILENCED: frozenset({SILENCED, FIRING, ACKNOWLEDGED, RESOLVED}),
    RESOLVED: frozenset(),
}
"""Where each alert state may go; a resolved alert goes nowhere."""


def _forbidden(source: AlertState, target: AlertState) -> TriadError:
    return Conflict(f"an alert cannot move from {source} to {target}", field="alert_id")


ALERTS: RuleBook[AlertState, Attempt] = RuleBook(
    "alert", ALERT_EDGES, ALERT_RULES, forbidden=_forbidden
)
"""The alert lifecycle: its edges and the rules that guard them."""

SILENCE_EDGES: dict[SilenceState, frozenset[SilenceState]] = {
    SilenceState.NEW: frozenset({SilenceState.ACTIVE}),
    SilenceState.ACTIVE: frozenset({SilenceState.EXPIRED}),
    SilenceState.EXPIRED: frozenset({SilenceState.EXPIRED}),  # refused by NotExpiredYet
}
"""A silence is added, then expired (by hand, by its end, or by its operation's end)."""

SILENCES: RuleBook[SilenceState, SilenceAttempt] = RuleBook("silence", SILENCE_EDGES, SILENCE_RULES)
"""The silence lifecycle: its edges and the rules that guard them."""


def refusal(source: AlertState, target: AlertState, attempt: Attempt) -> TriadError | None:
    """Return the refusal of `attempt` moving an alert `source` → `target`, or None."""
    for rule in ALERTS.rules_for(source, target):
        refused = rule.check(attempt)
        if refused is not None:
            return refused
    if not ALERTS.allows(source, target):
        return _forbidden(source, target)
    return None


def enforce(target: AlertState, attempt: Attempt) -> None:
    """Raise the refusal of `attempt` moving its alert to `target`; else do nothing."""
    refused = refusal(attempt.state, target, attempt)
    if refused is not None:
        raise refused


def transition(
    session: AsyncSession,
    row: AlertRow,
    target: AlertState,
    *,
    act: Act,
    event: str,
    by: Actor,
    at: datetime,
    details: dict[str, JsonValue] | None = None,
) -> None:
    """Move a stored alert to `target` by `act` and queue its ledger entry `event`.

    Raises the refusal when the edge or a rule refuses, changing nothing. The caller holds
    the row's lock and commits with ``lifecycle.commit``.
    """
    enforce(target, Attempt.of_row(act, row, by))
    row.state = target.value
    events.record_alert(
        session,
        alert_id=row.id,
        event=event,
        actor=actor_name(by),
        state=target,
        at=at,
        details=details,
    )


def resolve(
    session: AsyncSession,
    row: AlertRow,
    *,
    act: Act,
    by: Actor,
    at: datetime,
    reason: str,
    resolved_at: datetime | None = None,
) -> None:
    """Resolve a stored alert by `act`, saying why; it resolved at `resolved_at` (or `at`)."""
    transition(
        session,
        row,
        RESOLVED,
        act=act,
        event=events.ALERT_RESOLVED,
        by=by,
        at=at,
        details={"reason": reason},
    )
    row.resolved_at, row.resolved_by = resolved_at or at, actor_name(by)


def mute(session: AsyncSession, row: AlertRow, silence_id: str, *, by: str, at: datetime) -> None:
    """Mute a stored alert under `silence_id` (it may move from another silence)."""
    row.silence_id = silence_id
    transition(
        session,
        row,
        SILENCED,
        act=Act.MUTE,
        event=events.ALERT_SILENCED,
        by=by,
        at=at,
        details={"silence": silence_id},
    )


def posted_refusal(alert: Tracked, poster: Poster) -> TriadError | None:
    """Return why `poster` may not resolve `alert` by posting, or None (a batch goes on)."""
    return refusal(alert.state, RESOLVED, Attempt.of_tracked(Act.POST_RESOLVED, alert, poster))


def move(alert: Tracked, target: AlertState) -> None:
    """Move an alert the engine holds to `target`: the edge must be in the table.

    The engine's moves are its own (a repeat muted or released, a resolution it has let
    through `posted_refusal`), so only the edge is checked here; the service records them.
    """
    if not ALERTS.allows(alert.state, target):
        raise _forbidden(alert.state, target)
    alert.state = target


def silence_state(row: SilenceRow | None) -> SilenceState:
    """Return where a stored silence stands (None: not added yet)."""
    if row is None:
        return SilenceState.NEW
    return SilenceState.ACTIVE if row.expired_at is None else SilenceState.EXPIRED


def enforce_silence(target: SilenceState, attempt: SilenceAttempt) -> None:
    """Raise the refusal of adding or expiring a silence; else do nothing."""
    SILENCES.enforce(silence_state(attempt.row), target, attempt)


def may_expire(by: Actor) -> None:
    """Raise when `by` may not expire silences at all (asked before anything is read)."""
    SILENCES.enforce(SilenceState.ACTIVE, SilenceState.EXPIRED, SilenceAttempt(by))


def end_silence(
    session: AsyncSession, row: SilenceRow, *, by: str, at: datetime, reason: str
) -> None:
    """Mark a silence expired and queue its ledger entry; the caller holds the silences' lock."""
    row.expired_at, row.expired_by = at, by
    events.record_silence(
        session,
        silence_id=row.id,
        event=events.SILENCE_EXPIRED,
        actor=by,
        at=at,
        operation_id=row.operation_id,
        details={"reason": reason},
    )
