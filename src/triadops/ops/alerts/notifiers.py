"""Notifiers: one sender per channel kind, chosen by the channel's configuration.

The senders that reach out (`webhooks`, `mail`) live beside this module; here are the two
that stay in the process: the log line, and the recording kept in memory for tests and
drills. What a notification says and the base every sender implements are in `payloads`,
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from triadops.ops.alerts.mail import EmailNotifier as EmailNotifier
from triadops.ops.alerts.mail import email_message as email_message
from triadops.ops.alerts.payloads import MAX_LISTED as MAX_LISTED
from triadops.ops.alerts.payloads import USER_AGENT as USER_AGENT
from triadops.ops.alerts.payloads import AlertBrief as AlertBrief
from triadops.ops.alerts.payloads import DeliveryFailed as DeliveryFailed
from triadops.ops.alerts.payloads import NotificationPayload as NotificationPayload
from triadops.ops.alerts.payloads import NotificationReason as NotificationReason
from triadops.ops.alerts.payloads import Notifier as Notifier
from triadops.ops.alerts.payloads import payload_body as payload_body
from triadops.ops.alerts.signatures import SIGNATURE_TOLERANCE_S as SIGNATURE_TOLERANCE_S
from triadops.ops.alerts.signatures import sign as sign
from triadops.ops.alerts.signatures import verify_signature as verify_signature
from triadops.ops.alerts.webhooks import SlackNotifier as SlackNotifier
from triadops.ops.alerts.webhooks import WebhookNotifier as WebhookNotifier
from triadops.ops.alerts.webhooks import slack_text as slack_text
from triadops.settings import (
    Channel,
    EmailChannel,
    LogChannel,
    RecordingChannel,
    SlackChannel,
    WebhookChannel,
)

__all__ = [
    "SIGNATURE_TOLERANCE_S",
    "AlertBrief",
    "DeliveryFailed",
    "EmailNotifier",
    "LogNotifier",
    "NotificationPayload",
    "NotificationReason",
    "Notifier",
    "RecordingNotifier",
    "SlackNotifier",
    "WebhookNotifier",
    "email_message",
    "notifier_for",
    "notifiers_for",
    "payload_body",
    "recorded",
    "sign",
    "slack_text",
    "verify_signature",
]

LOG_TIMEOUT_S = 5.0

log = structlog.stdlib.get_logger(__name__)


class LogNotifier(Notifier):
    """Writes one structured log line per notification; never fails."""

    kind = "log"

    @property
    def timeout_s(self) -> float:
        """Writing a line takes no time worth bounding."""
        return LOG_TIMEOUT_S

    async def send(self, payload: NotificationPayload) -> None:
        """Log the summary, reason, group and alert names."""
        log.warning(
            "alert_notification",
            channel=self.name,
            summary=payload.summary,
            status=payload.status,
            reason=payload.reason.value,
            severity=payload.severity.value,
            group_key=payload.group_key,
            authorities=[a.value for a in payload.authorities],
            alerts=[a.alertname for a in payload.alerts],
            delivery=payload.id,
        )


class RecordingNotifier(Notifier):
    """Keeps what it was asked to send, in memory; fails when told to (tests and drills).

    A configured ``recording`` channel records into the process-wide list of its name
    (`recorded`), so what the monitor sent is there to read after the pass that sent it.
    """

    kind = "recording"

    def __init__(
        self,
        name: str,
        *,
        into: list[NotificationPayload] | None = None,
        failure: DeliveryFailed | None = None,
    ) -> None:
        super().__init__(name)
        self.sent: list[NotificationPayload] = into if into is not None else []
        """The payloads taken, in order (a failed try takes none)."""
        self.failure = failure
        """Raised by every send while set: a drill of a channel that is down."""

    @property
    def timeout_s(self) -> float:
        """Keeping a payload takes no time worth bounding."""
        return LOG_TIMEOUT_S

    async def send(self, payload: NotificationPayload) -> None:
        """Keep `payload`, or raise the failure this recorder was given."""
        if self.failure is not None:
            raise self.failure
        self.sent.append(payload)


_RECORDINGS: dict[str, list[NotificationPayload]] = {}


def recorded(name: str) -> list[NotificationPayload]:
    """Return what the configured ``recording`` channel `name` was sent in this process."""
    return _RECORDINGS.setdefault(name, [])


def forget_recordings() -> None:
    """Empty every configured recording channel's list (between drills)."""
    _RECORDINGS.clear()


def notifier_for(name: str, channel: Channel) -> Notifier:
    """Return the sender for a configured channel."""
    match channel:
        case WebhookChannel():
            return WebhookNotifier(name, channel)
        case SlackChannel():
            return SlackNotifier(name, channel)
        case EmailChannel():
            return EmailNotifier(name, channel)
        case LogChannel():
            return LogNotifier(name)
        case RecordingChannel():
            return RecordingNotifier(name, into=recorded(name))


def notifiers_for(channels: Mapping[str, Channel]) -> dict[str, Notifier]:
    """Return a sender for every configured channel, by name."""
    return {name: notifier_for(name, channel) for name, channel in channels.items()}
