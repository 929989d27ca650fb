"""Who may add and expire silences, and what a silence may be: rule classes on its edges.

A silence is added (new → active) and expired (active → expired); `lifecycle.SILENCES`
enforces these rules on each edge. A silence sees an alert's labels with ``severity`` set
to the severity it escalates with, so whether it can mute an emergency or a critical alert
is read from its matchers alone, and decides who may add it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from triadops.domain.alerts import SILENCERS, Matcher, silencers_for
from triadops.domain.enums import Authority
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, TriadError
from triadops.domain.rules import Rule
from triadops.ops.alerts.policy import Actor

if TYPE_CHECKING:
    from triadops.storage.tables import SilenceRow

MAX_MATCHERS = 50


class SilenceState(StrEnum):
    """Where a silence stands: there is no silence before it is added."""

    NEW = "new"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SilenceAttempt:
    """An attempt to add or expire a silence: who acts, and what the silence would be."""

    by: Actor
    matchers: Sequence[Matcher] = ()
    now: datetime | None = None
    ends_at: datetime | None = None
    duration_s: float | None = None
    max_duration_s: float = 0.0
    row: SilenceRow | None = None
    """The stored silence, for an expiry."""

    def end(self) -> datetime:
        """Return when the silence asked for ends (InvalidRequest as `EndsInTime` refuses)."""
        assert self.now is not None
        return silence_end(
            now=self.now,
            ends_at=self.ends_at,
            duration_s=self.duration_s,
            max_duration_s=self.max_duration_s,
        )


class MaySilence(Rule[SilenceState, SilenceAttempt]):
    reason = "Muting alerts hides them from everyone: the executive, legislature or crown decide."

    def check(self, attempt: SilenceAttempt) -> TriadError | None:
        by = attempt.by
        if isinstance(by, str) or any(by.holds(a) for a in SILENCERS):
            return None
        return Forbidden(
            f"{by.name} may not add or expire silences: it needs executive, legislative or crown"
        )


class SelectsSomething(Rule[SilenceState, SilenceAttempt]):
    from_states = frozenset({SilenceState.NEW})
    reason = (
        "A silence whose every matcher matches nothing would mute every alert, as in Alertmanager."
    )

    def check(self, attempt: SilenceAttempt) -> TriadError | None:
        try:
            check_matchers(attempt.matchers)
        except InvalidRequest as exc:
            return exc
        return None


class EndsInTime(Rule[SilenceState, SilenceAttempt]):
    from_states = frozenset({SilenceState.NEW})
    reason = "Every silence ends: a person's within max_silence_s, a change's within its cap."

    def check(self, attempt: SilenceAttempt) -> TriadError | None:
        try:
            attempt.end()
        except InvalidRequest as exc:
            return exc
        return None


class NoLouderThanItsAuthority(Rule[SilenceState, SilenceAttempt]):
    from_states = frozenset({SilenceState.NEW})
    reason = "Muting an emergency keeps it from the crown, a critical from the legislature: theirs."

    def check(self, attempt: SilenceAttempt) -> TriadError | None:
        by = attempt.by
        if isinstance(by, str):
            return None
        allowed = silencers_for(attempt.matchers)
        if any(by.holds(authority) for authority in allowed):
            return None
        if allowed == (Authority.CROWN,):
            what, hint = "an emergency", 'severity!="emergency"'
        else:
            what, hint = "a critical alert", 'severity=~"info|warning"'
        names = " or ".join(a.value for a in allowed)
        return Forbidden(
            f"{by.name} may not add this silence: it can mute {what}, which needs {names}; "
            f"a matcher such as {hint} leaves those out",
            field="matchers",
        )


class NotExpiredYet(Rule[SilenceState, SilenceAttempt]):
    from_states = frozenset({SilenceState.EXPIRED})
    reason = "A silence ends once; a second expiry would hide who ended it."

    def check(self, attempt: SilenceAttempt) -> TriadError | None:
        row = attempt.row
        assert row is not None
        return Conflict(
            f"silence {row.id} was already expired by {row.expired_by}", field="silence_id"
        )


SILENCE_RULES: Sequence[type[Rule[SilenceState, SilenceAttempt]]] = (
    MaySilence,
    SelectsSomething,
    EndsInTime,
    NoLouderThanItsAuthority,
    NotExpiredYet,
)
"""The silence rules, in the order a refusal is looked for."""


def silence_end(
    *,
    now: datetime,
    ends_at: datetime | None,
    duration_s: float | None,
    max_duration_s: float,
) -> datetime:
    """Return when a silence asked for now ends; InvalidRequest when it never would, or late."""
    if (ends_at is None) == (duration_s is None):
        raise InvalidRequest("give exactly one of duration_s and ends_at", field="duration_s")
    field = "ends_at" if ends_at is not None else "duration_s"
    try:
        end = _utc(ends_at) if ends_at is not None else now + timedelta(seconds=duration_s or 0)
    except OverflowError:
        raise InvalidRequest(f"{field}: out of range", field=field) from None
    if end <= now:
        raise InvalidRequest(f"{field}: a silence must end in the future", field=field)
    if end - now > timedelta(seconds=max_duration_s):
        raise InvalidRequest(
            f"{field}: a silence may last at most {max_duration_s:g} s "
            f"({max_duration_s / 86400:g} days)",
            field=field,
        )
    return end


def _utc(value: datetime) -> datetime:
    """Treat a naive time as UTC; convert an aware one (as `engine.as_utc`)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_matchers(matchers: Sequence[Matcher]) -> None:
    """Refuse a silence that would mute everything, as Alertmanager does.

    At least one matcher must fail on the empty string: ``alertname=~.*`` alone would match
    every alert, including those that have no labels in common with the intent.
    """
    if not matchers:
        raise InvalidRequest("a silence needs at least one matcher", field="matchers")
    if len(matchers) > MAX_MATCHERS:
        raise InvalidRequest(f"at most {MAX_MATCHERS} matchers", field="matchers")
    if all(m.matches({}) for m in matchers):
        raise InvalidRequest(
            "every matcher also matches a missing label, so the silence would mute every "
            "alert; add one that needs a value (such as alertname=...)",
            field="matchers",
        )
