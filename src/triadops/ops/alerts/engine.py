"""Dedup, silencing, grouping and routing of raised alerts: in memory, no I/O, no clock.

The service loads what the database knows about a batch (the active alerts with the
batch's fingerprints, the active silences), lets an :class:`AlertBook` decide, and writes
what changed. A benchmark drives the same book with nothing around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from triadops.domain.alerts import (
    AlertIn,
    AlertState,
    Matcher,
    MatchOp,
    Severity,
    compile_regex,
    group_key,
    silence_labels,
)
from triadops.domain.enums import Authority
from triadops.ops.alerts import lifecycle
from triadops.ops.alerts.policy import UNNAMED, Poster
from triadops.ops.caches import CountedCache, counted_cache

ACKNOWLEDGED = AlertState.ACKNOWLEDGED
L, E, J, C = Authority.LEGISLATIVE, Authority.EXECUTIVE, Authority.JUDICIAL, Authority.CROWN
ESCALATION: dict[Severity, tuple[Authority, ...]] = {
    Severity.INFO: (L,),
    Severity.WARNING: (L, E),
    Severity.CRITICAL: (L, E, J),
    Severity.EMERGENCY: (L, E, J, C),
}
"""The authorities each severity reaches: every level adds one (the seed's escalation)."""

MAX_GROUP_KEY = 500
"""A stored group key's length (``alert_groups.key``); longer keys end in a digest."""
MAX_ALERTNAME = 200
"""The stored ``alertname`` column's length; the label itself keeps the whole name."""

Route = tuple[tuple[Authority, ...], tuple[str, ...]]
"""The authorities an alert reaches and their channels, each channel once."""


def route(severity: Severity, routes: Mapping[Authority, Sequence[str]]) -> Route:
    """Return the authorities `severity` reaches and their channels, in escalation order."""
    authorities = ESCALATION[severity]
    channels = dict.fromkeys(c for a in authorities for c in routes.get(a, ()))
    return authorities, tuple(channels)


def bounded_group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> str:
    """Return the group key, shortened to fit its column by a digest of the whole."""
    key = group_key(dict(labels), list(group_by))
    if len(key) <= MAX_GROUP_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return key[: MAX_GROUP_KEY - 33] + "~" + digest


def as_utc(value: datetime) -> datetime:
    """Treat a naive time as UTC; convert an aware one."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


LabelTest = Callable[[Mapping[str, str]], bool]


def _test(matcher: Matcher) -> LabelTest:
    """Compile one matcher into a test of a label set (a missing label reads as empty)."""
    name, value = matcher.name, matcher.value
    match matcher.op:
        case MatchOp.EQUAL:
            return lambda labels: labels.get(name, "") == value
        case MatchOp.NOT_EQUAL:
            return lambda labels: labels.get(name, "") != value
        case MatchOp.REGEX:
            fullmatch = compile_regex(value).fullmatch
            return lambda labels: fullmatch(labels.get(name, "")) is not None
        case MatchOp.NOT_REGEX:
            fullmatch = compile_regex(value).fullmatch
            return lambda labels: fullmatch(labels.get(name, "")) is None


@dataclass(frozen=True, slots=True)
class SilenceSpec:
    """A silence as the engine needs it: its id, its end and its matchers."""

    id: str
    ends_at: datetime
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True, slots=True)
class _Rule:
    rank: int
    """Position when sorted by end, latest first: the lowest rank that matches wins."""
    id: str
    ends_at: datetime
    tests: tuple[LabelTest, ...]

    def holds(self, labels: Mapping[str, str]) -> bool:
        return all(test(labels) for test in self.tests)


class SilenceSet:
    """Silences with their matchers compiled once; the one that ends last is found first.

    A silence with an equality matcher is filed under that label's value, so an alert is
    tried only against the silences its own values select, plus those with no equality
    matcher: the cost follows the silences that could match, not all of them.
    """

    __slots__ = ("_by_value", "_ends", "_scan", "ids")

    def __init__(self, silences: Iterable[SilenceSpec]) -> None:
        ordered = sorted(silences, key=lambda s: (as_utc(s.ends_at), s.id), reverse=True)
        self._by_value: dict[str, dict[str, list[_Rule]]] = {}
        scan: list[_Rule] = []
        for rank, spec in enumerate(ordered):
            rule = _Rule(
                rank, spec.id, as_utc(spec.ends_at), tuple(_test(m) for m in spec.matchers)
            )
            equal = next((m for m in spec.matchers if m.op is MatchOp.EQUAL), None)
            if equal is None:
                scan.append(rule)
            else:
                self._by_value.setdefault(equal.name, {}).setdefault(equal.value, []).append(rule)
        self._scan = tuple(scan)
        self._ends = {s.id: as_utc(s.ends_at) for s in ordered}
        self.ids = frozenset(self._ends)

    def __len__(self) -> int:
        return len(self._ends)

    def covers(self, silence_id: str, now: datetime) -> bool:
        """True when the silence `silence_id` is in this set and has not ended at `now`."""
        ends_at = self._ends.get(silence_id)
        return ends_at is not None and ends_at > now

    def match(self, labels: Mapping[str, str], now: datetime) -> str | None:
        """Return the id of a silence that mutes `labels` at `now`, or None."""
        best: _Rule | None = None
        for name, by_value in self._by_value.items():
            for rule in by_value.get(labels.get(name, ""), ()):
                if rule.ends_at <= now or (best is not None and rule.rank > best.rank):
                    break  # each list runs latest end first: the rest end sooner
                if rule.holds(labels):
                    best = rule
                    break
        for rule in self._scan:
            if rule.ends_at <= now or (best is not None and rule.rank > best.rank):
                break
            if rule.holds(labels):
                best = rule
                break
        return None if best is None else best.id


Matches = Mapping[tuple[str, Severity], str | None]
"""The silence muting each (fingerprint, severity) at one instant, decided beforehand."""


class StaleMatches(Exception):
    """The book needed a match that was not made beforehand: decide the batch again."""


def match_batch(
    silences: SilenceSet, wanted: Iterable[tuple[str, Mapping[str, str], Severity]], now: datetime
) -> dict[tuple[str, Severity], str | None]:
    """Match each (fingerprint, labels, severity) against `silences` at `now`, once each."""
    found: dict[tuple[str, Severity], str | None] = {}
    for fingerprint, labels, severity in wanted:
        key = (fingerprint, severity)
        if key not in found:
            found[key] = (
                silences.match(silence_labels(labels, severity), now) if silences.ids else None
            )
    return found


_COMPILED: CountedCache[tuple[SilenceSpec, ...], SilenceSet] = counted_cache(
    "silences", maxsize=16, ttl_s=600.0
)


def compile_silences(silences: tuple[SilenceSpec, ...]) -> SilenceSet:
    """Return the compiled set (RE2 matchers) of `silences`, compiled once per ten minutes."""
    return _COMPILED.get_or_compute(silences, SilenceSet)


class ChangeKind(StrEnum):
    """What a raised alert did to the book."""

    FIRED = "fired"
    """A new alert: no unresolved one had its labels."""
    REPEATED = "repeated"
    """The same labels again: its count and last_seen rose, nothing else changed."""
    RESOLVED = "resolved"
    SILENCED = "silenced"
    """A repeat that a silence now mutes (or that moved to another silence)."""
    UNSILENCED = "unsilenced"
    """A repeat whose silence ended, with no other silence covering it."""
    IGNORED = "ignored"
    """A resolution of an alert the book does not hold: nothing to resolve."""
    REFUSED = "refused"
    """A resolution its poster may not make (`lifecycle.posted_refusal`): no change."""


@dataclass(slots=True, eq=False)
class Tracked:
    """One alert instance as the book sees it: stored (it has an id) or new."""

    fingerprint: str
    labels: dict[str, str]
    severity: Severity
    group_key: str
    state: AlertState
    starts_at: datetime
    last_seen: datetime
    count: int = 1
    id: int | None = None
    silence_id: str | None = None
    acknowledged: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None
    generator_url: str | None = None
    resolved_at: datetime | None = None
    raised_by: str | None = None
    """The principal that raised it (None: not known, for alerts stored before it was)."""
    authorities: tuple[Authority, ...] = ()
    channels: tuple[str, ...] = ()

    @property
    def alertname(self) -> str:
        """The ``alertname`` label, cut to its column's length."""
        return self.labels.get("alertname", "")[:MAX_ALERTNAME]


@dataclass(frozen=True, slots=True)
class Change:
    """One raised alert's effect: what happened to which instance, and its state after."""

    kind: ChangeKind
    alert: Tracked | None
    """The instance changed; None for an ignored resolution."""
    previous: AlertState | None = None
    """Its state before this change (None for a new alert)."""
    state: AlertState | None = None
    """Its state right after this change (a later change in the batch may move it on)."""
    silence_id: str | None = None
    """The silence muting it right after this change."""
    annotated: bool = False
    """Its source changed its annotations or graph link with this repeat."""

    @classmethod
    def of(
        cls,
        kind: ChangeKind,
        alert: Tracked,
        previous: AlertState | None,
        *,
        annotated: bool = False,
    ) -> Change:
        """Record `alert` as it stands now."""
        return cls(kind, alert, previous, alert.state, alert.silence_id, annotated)


class AlertBook:
    """The active alerts by fingerprint, and what each raised alert does to them.

    A repeat of an unresolved alert raises its count and ``last_seen``; a resolution (or an
    ``ends_at`` already past) resolves it and removes it from the book, so the same labels
    firing later open a new instance. A new alert is silenced by the first active silence
    that matches it; a repeat is looked at again, since its silence may have ended.

    The book's `poster` posts every batch: it resolves an alert only by the
    rules of `lifecycle.posted_refusal`, and changes what an alert says only if it raised it.
    """

    def __init__(
        self,
        *,
        group_by: Sequence[str],
        routes: Mapping[Authority, Sequence[str]],
        known: Iterable[Tracked] = (),
        silences: SilenceSet | None = None,
        poster: Poster = UNNAMED,
        matches: Matches | None = None,
    ) -> None:
        self.group_by = tuple(group_by)
        self.poster = poster
        self.refusals: list[str] = []
        """Why each refused resolution of the batches applied was refused, in order."""
        self.active: dict[str, Tracked] = {t.fingerprint: t for t in known}
        self.silences = silences or SilenceSet(())
        self.matches = matches
        """Matches made before the write lock (`match_batch`): the book then runs no regex."""
        self._routes = {severity: route(severity, routes) for severity in Severity}

    def apply(self, batch: Iterable[AlertIn], now: datetime) -> list[Change]:
        """Apply raised alerts in order; return one change for each."""
        changes: list[Change] = []
        append = changes.append
        for alert in batch:
            current = self.active.get(alert.fingerprint)
            ends_at = None if alert.ends_at is None else as_utc(alert.ends_at)
            if alert.status == "resolved" or (ends_at is not None and ends_at <= now):
                if current is None:
                    append(Change(ChangeKind.IGNORED, None))
                    continue
                refused = lifecycle.posted_refusal(current, self.poster)
                if refused is not None:
                    self.refusals.append(refused.message)
                    append(Change(ChangeKind.REFUSED, None))
                    continue
                previous = current.state
                lifecycle.move(current, AlertState.RESOLVED)
                current.resolved_at = now if ends_at is None else min(ends_at, now)
                current.ends_at = ends_at or current.ends_at
                current.last_seen = max(current.last_seen, now)
                del self.active[alert.fingerprint]
                append(Change.of(ChangeKind.RESOLVED, current, previous))
            elif current is None:
                append(Change.of(ChangeKind.FIRED, self._new(alert, ends_at, now), None))
            else:
                append(self._repeat(current, alert, ends_at, now))
        return changes

    def _new(self, alert: AlertIn, ends_at: datetime | None, now: datetime) -> Tracked:
        labels = alert.labels
        severity = alert.resolved_severity
        silence = self._silence_for(alert.fingerprint, labels, severity, now)
        authorities, channels = self._routes[severity]
        tracked = Tracked(
            fingerprint=alert.fingerprint,
            labels=labels,
            severity=severity,
            group_key=bounded_group_key(labels, self.group_by),
            state=AlertState.SILENCED if silence else AlertState.FIRING,
            starts_at=now if alert.starts_at is None else as_utc(alert.starts_at),
            last_seen=now,
            silence_id=silence,
            annotations=dict(alert.annotations),
            ends_at=ends_at,
            generator_url=alert.generator_url,
            raised_by=self.poster.name,
            authorities=authorities,
            channels=channels,
        )
        self.active[tracked.fingerprint] = tracked
        return tracked

    def _repeat(
        self, current: Tracked, alert: AlertIn, ends_at: datetime | None, now: datetime
    ) -> Change:
        current.count += 1
        current.last_seen = max(current.last_seen, now)
        annotated = False
        # What the alert says (summary, runbook, graph link, end) is its source's to say: a
        # repeat from anyone else is only counted.
        if current.raised_by is not None and current.raised_by == self.poster.name:
            current.ends_at = ends_at
            before = (current.annotations, current.generator_url)
            if alert.annotations:
                current.annotations = dict(alert.annotations)
            current.generator_url = alert.generator_url or current.generator_url
            annotated = (current.annotations, current.generator_url) != before
        previous = current.state
        silence = current.silence_id
        if silence is not None and self.silences.covers(silence, now):
            return Change.of(ChangeKind.REPEATED, current, previous, annotated=annotated)
        found = self._silence_for(current.fingerprint, current.labels, current.severity, now)
        if found is not None:
            current.silence_id = found
            lifecycle.move(current, AlertState.SILENCED)
            return Change.of(ChangeKind.SILENCED, current, previous, annotated=annotated)
        if silence is None:
            return Change.of(ChangeKind.REPEATED, current, previous, annotated=annotated)
        current.silence_id = None
        lifecycle.move(current, ACKNOWLEDGED if current.acknowledged else AlertState.FIRING)
        return Change.of(ChangeKind.UNSILENCED, current, previous, annotated=annotated)

    def _silence_for(
        self, fingerprint: str, labels: Mapping[str, str], severity: Severity, now: datetime
    ) -> str | None:
        """Return the silence muting this alert: as matched beforehand, when the book was."""
        if not self.silences.ids:
            return None
        if self.matches is None:
            return self.silences.match(silence_labels(labels, severity), now)
        try:
            return self.matches[(fingerprint, severity)]
        except KeyError:
            raise StaleMatches(fingerprint) from None
