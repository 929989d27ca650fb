"""Who may take, close, resolve and silence alerts: rule classes keyed by the edges they guard.

Each rule names the states it guards from and to (`domain.rules.Rule`), the acts it
speaks for, and in one line why it exists. `lifecycle.ALERTS` and `lifecycle.SILENCES`
hold them and enforce them where the state changes, so no caller of `lifecycle.transition`
skips one. An emergency escalates until the crown answers, so only the crown ends one.
The silences' rules are in `silence_policy`.

An :class:`Attempt` is what a rule looks at: the alert as it stands (a stored row or one
the engine holds), who acts and by which act. A system actor (``triad:monitor``, a crown
principal whose acknowledgement answered a page) is named by triad's own code only, and
passes the rules that ask what a person holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

from triadops.domain.alerts import (
    AlertState,
    Severity,
)
from triadops.domain.enums import Authority
from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.identity import Identity
from triadops.domain.rules import Rule

if TYPE_CHECKING:
    from triadops.ops.alerts.engine import Tracked
    from triadops.storage.tables import AlertRow

HANDLERS = (Authority.LEGISLATIVE, Authority.EXECUTIVE, Authority.JUDICIAL, Authority.CROWN)
"""The authorities that may acknowledge and resolve alerts by hand; viewers only read."""

Actor = Identity | str
"""A principal acting through a token or the CLI, or a system actor (``branch:name``) that
only triad's own code can name, trusted as such."""


def actor_name(by: Actor) -> str:
    """Return the name the ledger records for `by`."""
    return by if isinstance(by, str) else by.name


class Act(StrEnum):
    """How an alert's state is being changed: the rules differ by act on the same edge."""

    FIRE = "fire"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    """By hand, through the API or the CLI."""
    POST_RESOLVED = "post_resolved"
    """Posted resolved (or with an ``ends_at`` past) in a batch."""
    EXPIRE = "expire"
    """Triad saw it end: its source stopped raising it, or its ``ends_at`` passed."""
    ANSWER = "answer"
    """The crown answered the question it asked (an acknowledged operation)."""
    MUTE = "mute"
    UNMUTE = "unmute"
    REFIRE = "refire"
    """An acknowledgement went quiet: it fires again."""
    ESCALATE = "escalate"
    ANNOTATE = "annotate"


@dataclass(frozen=True, slots=True)
class Poster:
    """Who posts a batch: the principal, and whether it holds the crown."""

    name: str
    crown: bool = False


UNNAMED = Poster("")
"""The poster of a book given none (the benchmark's): it resolves only what it raised."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """An attempted change of one alert: the alert as it stands, who acts, by which act."""

    act: Act
    alert_id: int | None
    alertname: str
    severity: Severity
    state: AlertState
    by: Actor
    crown: bool = False
    """Whether the actor holds the crown (a poster's word, or the identity's role)."""
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    raised_by: str | None = None

    @classmethod
    def of_row(cls, act: Act, row: AlertRow, by: Actor) -> Attempt:
        """Return the attempt of `by` on a stored alert."""
        return cls(
            act=act,
            alert_id=row.id,
            alertname=row.alertname,
            severity=Severity(row.severity),
            state=AlertState(row.state),
            by=by,
            crown=not isinstance(by, str) and by.holds(Authority.CROWN),
            acknowledged_by=row.acknowledged_by,
            resolved_by=row.resolved_by,
            raised_by=row.raised_by,
        )

    @classmethod
    def of_tracked(cls, act: Act, alert: Tracked, poster: Poster) -> Attempt:
        """Return the attempt of a batch's poster on an alert the engine holds."""
        return cls(
            act=act,
            alert_id=alert.id,
            alertname=alert.alertname,
            severity=alert.severity,
            state=alert.state,
            by=poster.name,
            crown=poster.crown,
            raised_by=alert.raised_by,
        )

    @property
    def person(self) -> Identity | None:
        """The identity acting, or None for a system actor or a batch's poster."""
        return None if isinstance(self.by, str) else self.by

    @property
    def named(self) -> str:
        """The alert as a refusal names it."""
        if self.alert_id is None:
            return self.alertname
        return f"alert {self.alert_id} ({self.alertname})"


class AlertRule(Rule[AlertState, Attempt]):
    """A rule on alerts: the acts it speaks for (on its edges), and the refusal."""

    acts: ClassVar[frozenset[Act]] = frozenset()

    def check(self, attempt: Attempt) -> TriadError | None:
        """Return the refusal of `attempt` when this rule speaks for its act."""
        return self.refuse(attempt) if attempt.act in self.acts else None

    def refuse(self, attempt: Attempt) -> TriadError | None:
        """Return the refusal of an attempt by one of `acts`, or None."""
        raise NotImplementedError


class HoldsAnAuthority(AlertRule):
    acts = frozenset({Act.ACKNOWLEDGE, Act.RESOLVE})
    reason = "Viewers read; taking or closing an alert is for the four authorities."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        by = attempt.person
        if by is None or any(by.holds(authority) for authority in HANDLERS):
            return None
        return Forbidden(f"{by.name} holds no authority: viewers may read alerts, not handle them")


class EmergencyWaitsForTheCrown(AlertRule):
    acts = frozenset({Act.ACKNOWLEDGE})
    reason = "An emergency escalates until the crown answers: only its acknowledgement stops that."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.severity is not Severity.EMERGENCY or attempt.crown:
            return None
        return Forbidden(
            f"alert {attempt.alert_id} is an emergency: only the crown may acknowledge it"
        )


class EmergencyEndsWithTheCrown(AlertRule):
    to_states = frozenset({AlertState.RESOLVED})
    acts = frozenset({Act.RESOLVE})
    reason = "An emergency escalates until the crown answers: no one else may end it by hand."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.severity is not Severity.EMERGENCY or attempt.crown:
            return None
        return Forbidden(f"alert {attempt.alert_id} is an emergency: only the crown may resolve it")


class Unresolved(AlertRule):
    acts = frozenset({Act.ACKNOWLEDGE, Act.RESOLVE})
    reason = "A resolved alert is history; the same labels firing again open a new alert."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.state is not AlertState.RESOLVED:
            return None
        return Conflict(
            f"alert {attempt.alert_id} was resolved by {attempt.resolved_by}", field="alert_id"
        )


class NotAcknowledged(AlertRule):
    acts = frozenset({Act.ACKNOWLEDGE})
    reason = "A second acknowledgement would hide who took the alert first."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.acknowledged_by is None:
            return None
        return Conflict(
            f"alert {attempt.alert_id} was already acknowledged by {attempt.acknowledged_by}",
            field="alert_id",
        )


class ResolvedByItsSource(AlertRule):
    to_states = frozenset({AlertState.RESOLVED})
    acts = frozenset({Act.POST_RESOLVED})
    reason = (
        "Only the source that raised an alert can tell it cleared; another's word is not enough."
    )

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.raised_by is not None and attempt.raised_by == attempt.by:
            return None
        return Forbidden(
            f"{attempt.by} did not raise {attempt.named}: only its source "
            f"({attempt.raised_by or 'unknown'}) may resolve it by posting"
        )


class PostedEmergencyEndsWithTheCrown(AlertRule):
    to_states = frozenset({AlertState.RESOLVED})
    acts = frozenset({Act.POST_RESOLVED})
    reason = "An emergency escalates until the crown answers: its source alone cannot end it."

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.severity is not Severity.EMERGENCY or attempt.crown:
            return None
        return Forbidden(f"{attempt.named} is an emergency: only the crown may resolve it")


class TriadNeverEndsAnEmergency(AlertRule):
    to_states = frozenset({AlertState.RESOLVED})
    acts = frozenset({Act.EXPIRE})
    reason = (
        "An ends_at passing or a source falling quiet is no answer: the crown ends emergencies."
    )

    def refuse(self, attempt: Attempt) -> TriadError | None:
        if attempt.severity is not Severity.EMERGENCY:
            return None
        return Forbidden(f"{attempt.named} is an emergency: only the crown may resolve it")


ALERT_RULES: Sequence[type[Rule[AlertState, Attempt]]] = (
    HoldsAnAuthority,
    EmergencyWaitsForTheCrown,
    EmergencyEndsWithTheCrown,
    Unresolved,
    NotAcknowledged,
    ResolvedByItsSource,
    PostedEmergencyEndsWithTheCrown,
    TriadNeverEndsAnEmergency,
)
"""The alert rules, in the order a refusal is looked for."""
