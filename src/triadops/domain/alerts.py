"""Alerts and silences: labels, fingerprints, matchers. Pure types, no I/O.

An alert is identified by its labels, as in Prometheus and Alertmanager: the same labels
firing again are the same alert (a repeat raises its count), and a silence selects alerts
by matchers over those labels.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal

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
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"value is not a regular expression: {exc}") from exc
        return self

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.value)

    def matches(self, labels: dict[str, str]) -> bool:
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


def silenced_by(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    """True when every matcher holds for `labels` (a silence's matchers are ANDed)."""
    return all(m.matches(labels) for m in matchers)


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
