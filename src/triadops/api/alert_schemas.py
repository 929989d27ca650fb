"""Request and response bodies of the alert and silence endpoints.

The answers extend the domain's read models (`domain.alert_views`), keeping their names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from triadops.domain.alert_views import Alert, AlertHistory, Notification, Silence
from triadops.domain.alerts import AlertState, Matcher, Severity
from triadops.domain.enums import Authority
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operations import Reason, Text
from triadops.ops.alerts.service import IngestResult
from triadops.ops.alerts.silences import MAX_MATCHERS, Preview

MAX_REFUSALS = 20
"""The most refusal reasons an ingest answer lists (all are counted)."""
MAX_ALERT_ID = 2**31 - 1
"""Alert ids are 32-bit on PostgreSQL; anything larger names no alert."""
AlertIdPath = Annotated[int, Path(ge=1, le=MAX_ALERT_ID, description="An alert's id.")]
SilenceIdPath = Annotated[
    str,
    Path(pattern=r"^[0-9A-Fa-f-]{1,36}$", description="A silence's id (a UUID)."),
]


class IngestAnswer(BaseModel):
    """What a batch of posted alerts did.

    Each received alert is counted once among new, repeated, resolved, ignored, refused and
    failed; ``silenced`` counts again those of them that a silence mutes.
    """

    model_config = ConfigDict(use_attribute_docstrings=True)

    received: int
    new: int
    """Alerts no unresolved alert had the labels of."""
    repeated: int
    """Repeats of an unresolved alert: its count and last_seen rose."""
    resolved: int
    ignored: int
    """Resolutions of alerts that were not unresolved."""
    silenced: int
    failed: int
    """Alerts the database refused; the rest were stored."""
    refused: int = 0
    """Resolutions the poster may not make: another principal's alert, or an emergency
    without the crown. They changed nothing; the rest were stored."""
    refusals: list[str] = Field(default_factory=list)
    """Why each refused resolution was refused (at most 20)."""

    @classmethod
    def of(cls, result: IngestResult) -> IngestAnswer:
        """Return the answer for `result`."""
        return cls(
            received=result.received,
            new=result.new,
            repeated=result.repeated,
            resolved=result.resolved,
            ignored=result.ignored,
            silenced=result.silenced,
            failed=result.failed,
            refused=result.refused,
            refusals=list(result.refusals[:MAX_REFUSALS]),
        )


class AlertView(Alert):
    """One alert as stored."""

    @classmethod
    def of(cls, alert: Alert) -> AlertView:
        """Return the view of an alert's read model."""
        return cls.model_validate(alert, from_attributes=True)


class NotificationView(Notification):
    """One delivery about the alert's group to one channel."""


class AlertDetail(AlertView):
    """One alert with its group's deliveries and its ledger entries."""

    notifications: list[NotificationView]
    """Deliveries about its group since it started, newest first (at most 50)."""
    timeline: list[LedgerEntry]
    """Every ledger entry about this alert, oldest first."""

    @classmethod
    def build(cls, history: AlertHistory) -> AlertDetail:
        """Combine the alert with its deliveries and entries."""
        return cls.model_validate(
            {
                **history.alert.model_dump(),
                "notifications": [
                    NotificationView.model_validate(n, from_attributes=True)
                    for n in history.notifications
                ],
                "timeline": history.timeline,
            }
        )


class AlertQuery(BaseModel):
    """What ``GET /alerts`` lists: filters, and where the page starts."""

    model_config = ConfigDict(use_attribute_docstrings=True, extra="forbid")

    state: list[AlertState] | None = None
    """Only alerts in these states (repeatable)."""
    severity: list[Severity] | None = None
    """Only alerts of these severities (repeatable)."""
    limit: int = Field(default=50, ge=1, le=500)
    cursor: int | None = Field(default=None, ge=1, le=MAX_ALERT_ID)
    """Continue after the page that gave this ``next_cursor`` (alerts older than it)."""


class AlertPage(BaseModel):
    """A page of alerts, newest first."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    items: list[AlertView]
    limit: int
    next_cursor: int | None = None
    """Pass as ``cursor`` for the next page; null when this page is not full."""


class ResolveAlertBody(BaseModel):
    """Why the alert is resolved by hand (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


def _matcher(value: Any) -> Any:
    """Read ``name=value`` (and ``!=``, ``=~``, ``!~``) text; objects pass through."""
    if not isinstance(value, str):
        return value
    try:
        return Matcher.parse(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _storable(matcher: Matcher) -> Matcher:
    if "\x00" in matcher.value:
        raise ValueError("NUL characters are not allowed")
    return matcher


MatcherIn = Annotated[
    Matcher,
    BeforeValidator(_matcher, json_schema_input_type=str | Matcher),
    AfterValidator(_storable),
]
"""A label matcher, as ``name=value`` text or as ``{name, op, value}``."""


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


class SilenceBody(BaseModel):
    """A silence to add: matchers (all must hold), and its end (every silence ends)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    matchers: list[MatcherIn] = Field(min_length=1, max_length=MAX_MATCHERS)
    """At least one must need a value (``alertname=~.*`` alone would mute everything)."""
    duration_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """How long it lasts from now, in seconds; or give ``ends_at``. At most
    ``alerts.max_silence_s`` (30 days by default)."""
    ends_at: Annotated[AwareDatetime, AfterValidator(_utc)] | None = None
    """When it ends (ISO 8601 with a zone); or give ``duration_s``."""
    comment: Annotated[Text, StringConstraints(max_length=2000)] = ""


class SilencePreviewBody(BaseModel):
    """The matchers of a silence to preview; nothing is added."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    matchers: list[MatcherIn] = Field(min_length=1, max_length=MAX_MATCHERS)
    """As for adding a silence: all must hold, and one must need a value."""


class SilencePreview(BaseModel):
    """What a silence would mute if added now, and who may add it."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    severities: list[Severity]
    """The severities it can mute: all, unless a ``severity`` matcher leaves some out."""
    requires: list[Authority]
    """The authorities that may add it (any one): only the crown if it can mute an
    emergency, the legislature or crown if a critical alert."""
    allowed: bool
    """Whether the caller may add it."""
    matched: int
    """How many unresolved alerts it matches now."""
    alerts: list[AlertView]
    """Those alerts, oldest first (at most 500); silenced ones keep the silence they have."""

    @classmethod
    def of(cls, preview: Preview) -> SilencePreview:
        """Return the answer for `preview`."""
        return cls(
            severities=list(preview.severities),
            requires=list(preview.requires),
            allowed=preview.allowed,
            matched=preview.matched,
            alerts=[AlertView.of(alert) for alert in preview.alerts],
        )


class SilenceView(Silence):
    """One silence as stored."""

    @classmethod
    def of(cls, silence: Silence) -> SilenceView:
        """Return the view of a silence's read model."""
        return cls.model_validate(silence, from_attributes=True)


class SilenceList(BaseModel):
    """Silences, newest first."""

    items: list[SilenceView]
