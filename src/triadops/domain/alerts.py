"""Alerts and silences: labels, fingerprints, matchers. Pure types, no I/O.

An alert is identified by its labels, as in Prometheus and Alertmanager: the same labels
firing again are the same alert (a repeat raises its count), and a silence selects alerts
by matchers over those labels.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal, Protocol

import re2
from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from triadops.domain.enums import Authority

LabelName = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", min_length=1, max_length=100)
]
LabelValue = Annotated[str, StringConstraints(max_length=1000)]
Labels = dict[LabelName, LabelValue]


class Severity(StrEnum):
    """How loud an alert is; each level adds an authority to its escalation path."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """Position in the ordering info < warning < critical < emergency."""
        return list(Severity).index(self)


class AlertState(StrEnum):
    """Where an alert stands."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    RESOLVED = "resolved"


SILENCERS = (Authority.EXECUTIVE, Authority.LEGISLATIVE, Authority.CROWN)
"""The authorities that may mute alerts; the judiciary measures and never hides what it sees."""

ACTIVE_STATES = frozenset({AlertState.FIRING, AlertState.ACKNOWLEDGED, AlertState.SILENCED})


def fingerprint(labels: dict[str, str]) -> str:
    """Return the alert's identity: a digest of its sorted labels (names and values)."""
    digest = hashlib.sha256()
    for name in sorted(labels):
        digest.update(name.encode())
        digest.update(b"\xff")
        digest.update(labels[name].encode())
        digest.update(b"\xff")
    return digest.hexdigest()[:32]


def new_silence_id(now: datetime) -> str:
    """Return a fresh silence id (a uuid) whose text sorts by creation time (ms first)."""
    aware = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    ms = max(0, int(aware.timestamp() * 1000)) & 0xFFFF_FFFF_FFFF
    return str(uuid.UUID(hex=f"{ms:012x}{uuid.uuid4().hex[12:]}"))


def group_key(labels: dict[str, str], group_by: list[str]) -> str:
    """Return the key of the notification group an alert joins: its `group_by` labels."""
    return "{" + ",".join(f"{name}={labels.get(name, '')!r}" for name in group_by) + "}"


MAX_REGEX_DEPTH = 50
"""How deeply a matcher's regex may nest groups; its length is capped by `LabelValue`."""
_RE2 = re2.Options()
_RE2.log_errors = False


class Pattern(Protocol):
    """A compiled matcher regex: RE2, so a match takes time linear in the text."""

    def fullmatch(self, text: str) -> object | None:
        """Return a match when all of `text` matches, else None."""
        ...


def compile_regex(value: str) -> Pattern:
    """Compile a matcher's regex with RE2; ValueError when RE2 refuses it or it nests too deep.

    RE2 never backtracks: a pattern such as ``(a+)+b`` matches any label in linear time,
    where Python's engine takes exponential time. RE2 refuses what needs backtracking
    (backreferences, lookaround), as Alertmanager's Go engine does.
    """
    if _nesting(value) > MAX_REGEX_DEPTH:
        raise ValueError(f"value nests groups deeper than {MAX_REGEX_DEPTH}")
    try:
        compiled: Pattern = re2.compile(value, _RE2)
    except re2.error as exc:
        why = exc.args[0] if exc.args else ""
        text = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise ValueError(f"value is not a regular expression RE2 accepts: {text}") from None
    return compiled


def _nesting(pattern: str) -> int:
    """Return how deeply `pattern` nests parentheses (outside classes and escapes)."""
    depth = deepest = 0
    escaped = in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


class MatchOp(StrEnum):
    """Alertmanager's matcher operators."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class Matcher(BaseModel):
    """One condition on one label; regexes are anchored at both ends, as in Alertmanager."""

    model_config = {"frozen": True}

    name: LabelName
    op: MatchOp = MatchOp.EQUAL
    value: LabelValue

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            compile_regex(self.value)
        return self

    @cached_property
    def _pattern(self) -> Pattern:
        return compile_regex(self.value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when `labels` meet this condition (a missing label reads as empty)."""
        value = labels.get(self.name, "")
        match self.op:
            case MatchOp.EQUAL:
                return value == self.value
            case MatchOp.NOT_EQUAL:
                return value != self.value
            case MatchOp.REGEX:
                return self._pattern.fullmatch(value) is not None
            case MatchOp.NOT_REGEX:
                return self._pattern.fullmatch(value) is None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Read ``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``."""
        found = re.fullmatch(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", text)
        if found is None:
            raise ValueError(
                f"matcher {text!r} is not name=value, name!=value, name=~regex or name!~regex"
            )
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        return cls(name=name, op=MatchOp(op), value=value)

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{self.value}"


def silenced_by(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds for `labels` (a silence's matchers are ANDed)."""
    return all(m.matches(labels) for m in matchers)


def silence_labels(labels: Mapping[str, str], severity: Severity) -> Mapping[str, str]:
    """Return the labels a silence sees: the alert's own, with ``severity`` its severity.

    An alert's severity may be given apart from its labels (`AlertIn.resolved_severity`),
    so a silence matches the severity the alert escalates with, never a label that
    disagrees with it or is missing.
    """
    if labels.get("severity") == severity.value:
        return labels
    return {**labels, "severity": severity.value}


def severities_matched(matchers: Sequence[Matcher]) -> list[Severity]:
    """Return the severities an alert may have and still be muted by `matchers`.

    Only matchers on ``severity`` decide it: every other label may take any value, so a
    silence without one can match every severity.
    """
    on_severity = [m for m in matchers if m.name == "severity"]
    return [s for s in Severity if all(m.matches({"severity": s.value}) for m in on_severity)]


def silencers_for(matchers: Sequence[Matcher]) -> tuple[Authority, ...]:
    """Return the authorities that may add a silence with `matchers`.

    Muting an emergency stops it reaching the crown, so only the crown may; muting a
    critical alert is the legislature's (or the crown's); anything quieter any silencer's.
    """
    can = severities_matched(matchers)
    if Severity.EMERGENCY in can:
        return (Authority.CROWN,)
    if Severity.CRITICAL in can:
        return (Authority.LEGISLATIVE, Authority.CROWN)
    return SILENCERS


class AlertIn(BaseModel):
    """An alert as raised: by triad's own monitors, or posted to ``POST /alerts``."""

    model_config = {"extra": "forbid"}

    labels: Labels = Field(min_length=1)
    """Identity of the alert; ``alertname`` is expected, ``severity`` is read when present."""
    annotations: dict[LabelName, Annotated[str, StringConstraints(max_length=10_000)]] = Field(
        default_factory=dict
    )
    severity: Severity | None = None
    """Overrides the ``severity`` label; default warning."""
    status: Literal["firing", "resolved"] = "firing"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    """When set and past, the alert resolves by itself (Alertmanager's ``endsAt``)."""
    generator_url: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, value: dict[str, str]) -> dict[str, str]:
        if not value.get("alertname"):
            raise ValueError("labels must name the alert with a non-empty 'alertname'")
        return value

    @property
    def resolved_severity(self) -> Severity:
        """The severity given, else the ``severity`` label when it names one, else warning."""
        if self.severity is not None:
            return self.severity
        try:
            return Severity(self.labels.get("severity", "warning"))
        except ValueError:
            return Severity.WARNING

    @cached_property
    def fingerprint(self) -> str:
        """The alert's identity, from its labels."""
        return fingerprint(self.labels)
