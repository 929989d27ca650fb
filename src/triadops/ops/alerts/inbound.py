"""Alerts from outside: triad's own format and Alertmanager's webhook (version 4), as AlertIn.

Both refuse, field by field, what a database could not store faithfully (NUL characters,
times out of range once in UTC), so a malformed alert is a 422 naming its field and never
reaches a transaction. A body holds at most :data:`MAX_ALERTS` alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
)

from triadops.domain.alerts import AlertIn, LabelName
from triadops.domain.operations import Text

MAX_ALERTS = 1000
"""The most alerts one request may carry (Alertmanager's ``max_alerts`` should stay below)."""
UNSET_BEFORE = datetime(2, 1, 1, tzinfo=UTC)
"""Alertmanager writes ``0001-01-01T00:00:00Z`` for a time it does not know (a firing
alert's ``endsAt``): earlier than this reads as unset."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


Time = Annotated[datetime, AfterValidator(_utc)]
LabelText = Annotated[Text, StringConstraints(max_length=1000)]
AnnotationText = Annotated[Text, StringConstraints(max_length=10_000)]
UrlText = Annotated[Text, StringConstraints(max_length=2000)]
StorableLabels = dict[LabelName, LabelText]


class PostedAlert(AlertIn):
    """One alert in triad's own format: labels name it (``alertname`` required)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    labels: StorableLabels = Field(min_length=1)
    """Identity of the alert; ``alertname`` is required, ``severity`` is read when present."""
    annotations: dict[LabelName, AnnotationText] = Field(default_factory=dict)
    starts_at: Time | None = None
    ends_at: Time | None = None
    """When set and past, the alert resolves by itself (Alertmanager's ``endsAt``)."""
    generator_url: UrlText | None = None


class AlertBatch(BaseModel):
    """Several alerts in one request, stored in one transaction."""

    model_config = ConfigDict(extra="forbid")

    alerts: list[PostedAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def _shape(value: Any) -> str:
    batch = isinstance(value, AlertBatch) or (isinstance(value, dict) and "alerts" in value)
    return "batch" if batch else "alert"


AlertPost = Annotated[
    Annotated[PostedAlert, Tag("alert")] | Annotated[AlertBatch, Tag("batch")],
    Discriminator(_shape),
]
"""``POST /alerts``: one alert, or ``{"alerts": [...]}`` with up to 1000."""


def posted_alerts(body: PostedAlert | AlertBatch) -> list[AlertIn]:
    """Return the alerts a ``POST /alerts`` body carries, in order."""
    return list(body.alerts) if isinstance(body, AlertBatch) else [body]


def _unset(value: datetime | None) -> datetime | None:
    return None if value is None or value < UNSET_BEFORE else value


class AlertmanagerAlert(BaseModel):
    """One alert as Alertmanager's webhook sends it."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: StorableLabels = Field(min_length=1)
    annotations: dict[LabelName, AnnotationText] = Field(default_factory=dict)
    starts_at: Time | None = Field(default=None, alias="startsAt")
    ends_at: Time | None = Field(default=None, alias="endsAt")
    """``0001-01-01T00:00:00Z`` (unset) while firing; when it resolved, once resolved."""
    generator_url: UrlText = Field(default="", alias="generatorURL")
    fingerprint: Annotated[Text, StringConstraints(max_length=64)] = ""
    """Alertmanager's own; triad computes its fingerprint from the labels."""

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, value: dict[str, str]) -> dict[str, str]:
        if not value.get("alertname"):
            raise ValueError("labels must name the alert with a non-empty 'alertname'")
        return value

    def to_alert(self) -> AlertIn:
        """Return it in triad's own terms."""
        return AlertIn(
            labels=self.labels,
            annotations=self.annotations,
            status=self.status,
            starts_at=_unset(self.starts_at),
            ends_at=_unset(self.ends_at),
            generator_url=self.generator_url or None,
        )


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4 (``webhook_configs`` in its configuration)."""

    model_config = ConfigDict(populate_by_name=True)

    version: Literal["4"]
    group_key: Annotated[Text, StringConstraints(max_length=10_000)] = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    """How many alerts Alertmanager left out (its ``max_alerts``)."""
    status: Literal["firing", "resolved"]
    receiver: Annotated[Text, StringConstraints(max_length=1000)]
    group_labels: StorableLabels = Field(default_factory=dict, alias="groupLabels")
    common_labels: StorableLabels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[LabelName, AnnotationText] = Field(
        default_factory=dict, alias="commonAnnotations"
    )
    external_url: UrlText = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=MAX_ALERTS)

    def to_alerts(self) -> list[AlertIn]:
        """Return its alerts in triad's own terms, in order."""
        return [alert.to_alert() for alert in self.alerts]
