"""Who may take, close and resolve alerts: small named rules, each saying why.

By hand (`ACKNOWLEDGE_RULES`, `RESOLVE_RULES`), a stored alert and the identity acting on
it; by posting (`POSTED_RESOLUTION_RULES`), an alert the engine holds and who posts the
batch. An emergency escalates until the crown answers, so only the crown ends one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triadops.constitution.guards import Rule
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.identity import Identity
from triadops.storage.tables import AlertRow

if TYPE_CHECKING:
    from triadops.ops.alerts.engine import Tracked

HANDLERS = (Authority.LEGISLATIVE, Authority.EXECUTIVE, Authority.JUDICIAL, Authority.CROWN)
"""The authorities that may acknowledge and resolve alerts by hand; viewers only read."""


Handling = tuple[AlertRow, Identity]


def holds_an_authority(a: Handling) -> Forbidden | None:
    """Viewers read; taking or closing an alert is for the four authorities."""
    _, by = a
    if any(by.holds(authority) for authority in HANDLERS):
        return None
    return Forbidden(f"{by.name} holds no authority: viewers may read alerts, not handle them")


def emergency_waits_for_the_crown(a: Handling) -> Forbidden | None:
    """An emergency escalates until the crown answers: only its acknowledgement stops that."""
    row, by = a
    if row.severity != Severity.EMERGENCY.value or by.holds(Authority.CROWN):
        return None
    return Forbidden(f"alert {row.id} is an emergency: only the crown may acknowledge it")


def unresolved(a: Handling) -> Conflict | None:
    """A resolved alert is history; the same labels firing again open a new alert."""
    row, _ = a
    if row.state != AlertState.RESOLVED.value:
        return None
    return Conflict(f"alert {row.id} was resolved by {row.resolved_by}", field="alert_id")


def not_acknowledged(a: Handling) -> Conflict | None:
    """A second acknowledgement would hide who took the alert first."""
    row, _ = a
    if row.acknowledged_by is None:
        return None
    return Conflict(
        f"alert {row.id} was already acknowledged by {row.acknowledged_by}", field="alert_id"
    )


def emergency_ends_with_the_crown(a: Handling) -> Forbidden | None:
    """An emergency escalates until the crown answers: no one else may end it by hand."""
    row, by = a
    if row.severity != Severity.EMERGENCY.value or by.holds(Authority.CROWN):
        return None
    return Forbidden(f"alert {row.id} is an emergency: only the crown may resolve it")


ACKNOWLEDGE_RULES: tuple[Rule[Handling], ...] = (
    holds_an_authority,
    emergency_waits_for_the_crown,
    unresolved,
    not_acknowledged,
)
RESOLVE_RULES: tuple[Rule[Handling], ...] = (
    holds_an_authority,
    emergency_ends_with_the_crown,
    unresolved,
)


@dataclass(frozen=True, slots=True)
class Poster:
    """Who posts a batch: the principal, and whether it holds the crown."""

    name: str
    crown: bool = False


Resolving = tuple["Tracked", Poster]


def resolved_by_its_source(a: Resolving) -> Forbidden | None:
    """Only the source that raised an alert can tell it cleared; another's word is not enough."""
    alert, poster = a
    if alert.raised_by is not None and alert.raised_by == poster.name:
        return None
    return Forbidden(
        f"{poster.name} did not raise {_named(alert)}: only its source "
        f"({alert.raised_by or 'unknown'}) may resolve it by posting"
    )


def posted_emergency_ends_with_the_crown(a: Resolving) -> Forbidden | None:
    """An emergency escalates until the crown answers: its source alone cannot end it."""
    alert, poster = a
    if alert.severity is not Severity.EMERGENCY or poster.crown:
        return None
    return Forbidden(f"{_named(alert)} is an emergency: only the crown may resolve it")


def _named(alert: Tracked) -> str:
    return f"alert {alert.id} ({alert.alertname})" if alert.id is not None else alert.alertname


POSTED_RESOLUTION_RULES: tuple[Rule[Resolving], ...] = (
    resolved_by_its_source,
    posted_emergency_ends_with_the_crown,
)
"""Who may resolve an alert by posting it resolved (or with an ``ends_at`` past)."""


def refusal(rules: Sequence[Rule[Resolving]], attempt: Resolving) -> TriadError | None:
    """Return the first refusal of `rules` for `attempt`, or None (a batch goes on past it)."""
    for rule in rules:
        refused = rule(attempt)
        if refused is not None:
            return refused
    return None


UNNAMED = Poster("")
"""The poster of a book given none (the benchmark's): it resolves only what it raised."""
