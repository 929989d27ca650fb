"""The alerts section: channels, routes, grouping, escalation and silences."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, field_validator, model_validator

from triadops.domain.enums import Authority

MIN_SECRET_BYTES = 32
"""The shortest webhook signing secret accepted: a guessable one signs nothing."""


class WebhookChannel(BaseModel):
    """A generic webhook: JSON body, signed with HMAC-SHA256 over the timestamp and body."""

    model_config = {"extra": "forbid"}

    kind: Literal["webhook"] = "webhook"
    url: AnyHttpUrl
    secret: SecretStr | None = None
    """Signs ``X-Triad-Signature`` (at least 32 bytes); without it the body goes unsigned."""
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"a webhook signing secret must be at least {MIN_SECRET_BYTES} bytes "
                "(`openssl rand -hex 32` makes one)"
            )
        return value


class SlackChannel(BaseModel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    model_config = {"extra": "forbid"}

    kind: Literal["slack"] = "slack"
    url: AnyHttpUrl
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class EmailChannel(BaseModel):
    """SMTP email."""

    model_config = {"extra": "forbid"}

    kind: Literal["email"] = "email"
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class LogChannel(BaseModel):
    """Triad's own log: a structured line per notification."""

    model_config = {"extra": "forbid"}

    kind: Literal["log"] = "log"


class RecordingChannel(BaseModel):
    """Kept in memory by the process that sends (`notifiers.recorded`): tests and drills."""

    model_config = {"extra": "forbid"}

    kind: Literal["recording"] = "recording"


Channel = Annotated[
    WebhookChannel | SlackChannel | EmailChannel | LogChannel | RecordingChannel,
    Field(discriminator="kind"),
]


def _default_channels() -> dict[str, Channel]:
    return {"log": LogChannel()}


def _default_routes() -> dict[Authority, list[str]]:
    return {authority: ["log"] for authority in Authority}


class AlertSettings(BaseModel):
    """Alert grouping, timing and escalation (Alertmanager's timing defaults)."""

    model_config = {"extra": "forbid"}

    every_s: float = Field(default=60.0, gt=0)
    """How often the leader runs an alert coordination cycle."""
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait_s: float = Field(default=30.0, ge=0)
    """How long a new group waits for more alerts before its first notification."""
    group_interval_s: float = Field(default=300.0, gt=0)
    """How long a notified group waits before notifying what changed in it."""
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0)
    """How long before an unchanged, still firing group is notified again."""
    ack_timeout_s: float = Field(default=15 * 60.0, gt=0)
    """An emergency alert not acknowledged within this is re-notified."""
    renotify_limit: int = Field(default=2, ge=0)
    """Re-notifications of an unacknowledged emergency before the fallback is called."""
    max_repages: int = Field(default=3, ge=0, le=100)
    """Re-pages of the fallback, one every ``ack_timeout_s``, after its first page; then a
    last "still unacknowledged, stopping re-pages" notice, and the alert stays open."""
    ack_quiet_s: float = Field(default=3600.0, gt=0)
    """An acknowledged alert not resolved within this fires again and re-enters escalation."""
    change_silence_max_s: float = Field(default=6 * 3600.0, gt=0)
    """The longest a change-linked silence may last, whatever its operation does."""
    max_silence_s: float = Field(default=30 * 86400.0, gt=0)
    """The longest silence a person may add: every silence ends, none later than this."""
    channels: dict[str, Channel] = Field(default_factory=_default_channels)
    """Notification channels by name."""
    routes: dict[Authority, list[str]] = Field(default_factory=_default_routes)
    """Each authority's channels: escalation notifies the authorities a severity reaches."""
    fallback: list[str] = Field(default_factory=lambda: ["log"])
    """Channels called when an emergency goes unacknowledged past its re-notifications."""
    delivery_attempts: int = Field(default=5, ge=1, le=50)
    """Tries per delivery (with backoff) before it is marked failed."""
    delivery_backoff_s: float = Field(default=2.0, gt=0)
    """The first pause between tries; it doubles each time, up to ten minutes."""
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    """Alerts one principal may post per second to ``POST /alerts``, sustained (its token
    bucket refills at this rate; each alert of a batch takes one token)."""
    rate_limit_burst: int = Field(default=1000, ge=1)
    """The bucket's size: what a quiet principal may post at once (one full batch)."""
    flood_threshold: int = Field(default=20, ge=1)
    """More alerts than this from one principal in one flush are told as one notification
    per channel ("N alerts from P"), queued behind the other deliveries of their severity."""

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertSettings:
        named = {"fallback": self.fallback, **{a.value: c for a, c in self.routes.items()}}
        for route, channels in named.items():
            unknown = sorted(set(channels) - set(self.channels))
            if unknown:
                raise ValueError(f"route {route} names unknown channels: {', '.join(unknown)}")
        return self
