"""Notifiers: what a notification says, and one sender per channel kind.

Each sender takes the stored payload and either delivers it within its channel's timeout or
raises :class:`DeliveryFailed` with a message fit for a log line and ``last_error``: where it
went (host and port only; a Slack URL's path is its secret), what came back, never a
password, a signing secret or a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import smtplib
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import ClassVar, Literal

import httpx
import orjson
import structlog
from pydantic import BaseModel

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.domain.errors import TriadError
from triadops.logconfig import redact
from triadops.ops.alerts.channel_text import one_line, receiver_said
from triadops.ops.alerts.signatures import SIGNATURE_TOLERANCE_S as SIGNATURE_TOLERANCE_S
from triadops.ops.alerts.signatures import sign as sign
from triadops.ops.alerts.signatures import verify_signature as verify_signature
from triadops.settings import Channel, EmailChannel, LogChannel, SlackChannel, WebhookChannel

__all__ = [
    "SIGNATURE_TOLERANCE_S",
    "AlertBrief",
    "DeliveryFailed",
    "EmailNotifier",
    "LogNotifier",
    "NotificationPayload",
    "NotificationReason",
    "Notifier",
    "SlackNotifier",
    "WebhookNotifier",
    "email_message",
    "notifier_for",
    "notifiers_for",
    "payload_body",
    "sign",
    "slack_text",
    "verify_signature",
]

USER_AGENT = "triadops-notifier/1"
LOG_TIMEOUT_S = 5.0
MAX_LISTED = 20
"""Alerts listed one by one in a chat message or an email; the rest are counted."""
MAX_SUBJECT_CHARS = 250
"""The longest email subject; a longer summary is cut with an ellipsis."""
MAX_ERROR_BODY_BYTES = 4096
"""The most of a receiver's error answer that is read."""

log = structlog.stdlib.get_logger(__name__)


class NotificationReason(StrEnum):
    """Why a notification was sent."""

    FIRING = "firing"
    RESOLVED = "resolved"
    REPEAT = "repeat"
    """Unchanged and still firing after the repeat interval."""
    REMINDER = "reminder"
    """An emergency not acknowledged by its deadline."""
    FALLBACK = "fallback"
    """An emergency still unacknowledged after every reminder: the fallback channels."""


class AlertBrief(BaseModel):
    """One alert as a notification shows it."""

    id: int
    fingerprint: str
    alertname: str
    severity: Severity
    state: AlertState
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    count: int
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    """When it was acknowledged; kept on a re-fire's notice ("acknowledged N min ago")."""


class NotificationPayload(BaseModel):
    """The JSON document every channel is sent (a webhook gets it whole). No secrets."""

    id: str
    """The delivery's key, the same on every retry: a receiver drops what it has seen.

    It is part of the signed body; ``X-Triad-Delivery`` repeats it for logs, unsigned."""
    version: Literal[1] = 1
    group_key: str
    group_labels: dict[str, str]
    status: Literal["firing", "resolved"]
    reason: NotificationReason
    authorities: list[Authority]
    """The authorities this delivery speaks for (its channel serves each of them)."""
    severity: Severity
    """The highest severity among the alerts."""
    summary: str
    """One line for a human: status, count, alert names, severity, reason."""
    alerts: list[AlertBrief]
    created_at: datetime


class DeliveryFailed(TriadError):
    """A channel did not take a notification; `transient` failures are worth retrying soon."""

    status_code = 502
    title = "Notification not delivered"

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def payload_body(payload: NotificationPayload) -> bytes:
    """Return the payload as the bytes a webhook sends (and signs)."""
    return orjson.dumps(payload.model_dump(mode="json"))


class Notifier(ABC):
    """Delivers a notification to one channel, within the channel's timeout."""

    kind: ClassVar[str]

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    @abstractmethod
    def timeout_s(self) -> float:
        """The longest one delivery may take."""

    @abstractmethod
    async def send(self, payload: NotificationPayload) -> None:
        """Deliver `payload`, or raise DeliveryFailed saying why."""


class WebhookNotifier(Notifier):
    """POSTs the payload as JSON, signed with ``X-Triad-Timestamp`` and ``X-Triad-Signature``."""

    kind = "webhook"

    def __init__(
        self, name: str, channel: WebhookChannel, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(name)
        self.channel = channel
        self._clock = clock
        """Wall-clock Unix seconds for the signed timestamp (the receiver's clock judges it)."""

    @property
    def timeout_s(self) -> float:
        """The channel's timeout."""
        return self.channel.timeout_s

    async def send(self, payload: NotificationPayload) -> None:
        """POST the signed payload; any answer but 2xx fails."""
        body = payload_body(payload)
        timestamp = str(int(self._clock()))
        headers = {"X-Triad-Timestamp": timestamp, "X-Triad-Delivery": payload.id}
        if self.channel.secret is not None:
            secret = self.channel.secret.get_secret_value()
            headers["X-Triad-Signature"] = sign(secret, timestamp, body)
        await _post(str(self.channel.url), body, headers, self.timeout_s, what="webhook")


class SlackNotifier(Notifier):
    """POSTs ``{"text": …}`` in Slack's markdown to an incoming webhook."""

    kind = "slack"

    def __init__(self, name: str, channel: SlackChannel) -> None:
        super().__init__(name)
        self.channel = channel

    @property
    def timeout_s(self) -> float:
        """The channel's timeout."""
        return self.channel.timeout_s

    async def send(self, payload: NotificationPayload) -> None:
        """POST the message; any answer but 2xx fails."""
        body = orjson.dumps({"text": slack_text(payload)})
        headers = {"X-Triad-Delivery": payload.id}
        await _post(str(self.channel.url), body, headers, self.timeout_s, what="slack webhook")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _describe(alert: AlertBrief) -> str:
    said = alert.annotations.get("summary") or alert.annotations.get("description")
    if said:
        return said
    return ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")


def slack_text(payload: NotificationPayload) -> str:
    """Return the chat message: the summary in bold, then one line per alert."""
    lines = [f"*{_slack_escape(payload.summary)}*"]
    for alert in payload.alerts[:MAX_LISTED]:
        lines.append(
            f"• `{_slack_escape(alert.alertname)}` {alert.severity} {alert.state}"
            f" — {_slack_escape(_describe(alert))}"
        )
    if len(payload.alerts) > MAX_LISTED:
        lines.append(f"…and {len(payload.alerts) - MAX_LISTED} more")
    return "\n".join(lines)


@functools.cache
def _tls() -> ssl.SSLContext:
    """Return httpx's default TLS context, built once: building one costs tens of ms."""
    return httpx.create_ssl_context()


async def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float, *, what: str
) -> None:
    where = _where(url)
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with (
            asyncio.timeout(timeout_s),
            httpx.AsyncClient(timeout=timeout_s, verify=_tls(), follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=sent) as response,
        ):
            said = "" if response.is_success else await _error_text(response, url)
    except (TimeoutError, httpx.TimeoutException):
        raise DeliveryFailed(
            f"{what} at {where} did not answer within {timeout_s:g} s", transient=True
        ) from None
    except httpx.HTTPError as exc:
        reason = receiver_said(str(exc), url) or type(exc).__name__
        raise DeliveryFailed(f"{what} at {where} unreachable: {reason}", transient=True) from None
    if not response.is_success:
        text = receiver_said(said, url)
        status = response.status_code
        phrase = receiver_said(response.reason_phrase, url)
        raise DeliveryFailed(
            f"{what} at {where} answered {status} {phrase}" + (f": {text}" if text else ""),
            transient=status >= 500 or status in (408, 425, 429),
        )


async def _error_text(response: httpx.Response, url: str) -> str:
    """Read the start of an error answer (never the whole of a big one) as text.

    Where the read stops, a URL the receiver echoed may be cut in two, and half a secret
    is not recognised as one: the text is cut again, a URL's length (and its encodings')
    earlier, so any part of the URL left in it is whole.
    """
    margin = 4 * len(url)
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= MAX_ERROR_BODY_BYTES + margin:
            text = kept.decode(response.encoding or "utf-8", errors="replace")
            return text[: max(len(text) - margin, 0)]
    return kept.decode(response.encoding or "utf-8", errors="replace")


def _where(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


class EmailNotifier(Notifier):
    """Sends a plain-text email over SMTP (optionally STARTTLS and login), in a thread."""

    kind = "email"

    def __init__(self, name: str, channel: EmailChannel) -> None:
        super().__init__(name)
        self.channel = channel

    @property
    def timeout_s(self) -> float:
        """The channel's timeout (for the whole exchange; each socket call has it too)."""
        return self.channel.timeout_s

    async def send(self, payload: NotificationPayload) -> None:
        """Send the email; a refusal, a dropped connection or the timeout fails."""
        message = email_message(payload, self.channel)
        where = f"smtp {self.channel.host}:{self.channel.port}"
        try:
            # Past the timeout the thread is left to finish on its own; each of its socket
            # calls has the same timeout, so it ends soon after.
            async with asyncio.timeout(self.timeout_s):
                await asyncio.to_thread(_smtp_send, self.channel, message)
        except TimeoutError:
            raise DeliveryFailed(
                f"{where} did not answer within {self.timeout_s:g} s", transient=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            said = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else exc.smtp_error
            )
            raise DeliveryFailed(
                f"{where} refused ({type(exc).__name__}): {exc.smtp_code} {self._scrub(said)}",
                transient=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = ", ".join(sorted(exc.recipients))
            raise DeliveryFailed(
                f"{where} refused the recipients {refused}", transient=False
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(f"{where}: {self._scrub(str(exc))}", transient=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise DeliveryFailed(f"{where} unreachable: {reason}", transient=True) from None

    def _scrub(self, text: str) -> str:
        password = self.channel.password
        if password is not None and password.get_secret_value():
            text = text.replace(password.get_secret_value(), "***")
        return redact(" ".join(text.split()))[:200]


def _email_paragraph(alert: AlertBrief) -> str:
    """Render one alert for an email body; any failure renders as a line saying so."""
    try:
        lines = [
            f"{one_line(alert.alertname)} — {alert.severity}, {alert.state}, since "
            f"{alert.starts_at.isoformat()} ({alert.count} times)",
            *(f"  {one_line(k)}: {one_line(v)}" for k, v in sorted(alert.annotations.items())),
            "  labels: "
            + ", ".join(f"{one_line(k)}={one_line(v)}" for k, v in sorted(alert.labels.items())),
        ]
        return "\n".join(lines)
    except Exception as exc:  # one alert's text never fails its group's email
        return f"alert {alert.id}: could not be shown ({type(exc).__name__})"


def email_message(payload: NotificationPayload, channel: EmailChannel) -> EmailMessage:
    """Return the email: the summary as subject, one paragraph per alert as body.

    Every header is one line of text (`one_line`), and every alert is rendered on its
    own: nothing an alert says can add a header or stop the email of its group.
    """
    message = EmailMessage()
    message["Subject"] = one_line(payload.summary, limit=MAX_SUBJECT_CHARS)
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    # The same id on every retry lets mail clients fold a duplicate into the first.
    message["Message-ID"] = f"<{payload.id}@triadops>"
    message["X-Triad-Delivery"] = one_line(payload.id)
    paragraphs = [
        one_line(payload.summary),
        f"Group {one_line(payload.group_key)}; reason {payload.reason}; for "
        + ", ".join(a.value for a in payload.authorities),
    ]
    paragraphs += [_email_paragraph(alert) for alert in payload.alerts[:MAX_LISTED]]
    if len(payload.alerts) > MAX_LISTED:
        paragraphs.append(f"…and {len(payload.alerts) - MAX_LISTED} more")
    message.set_content("\n\n".join(paragraphs) + "\n")
    return message


def _smtp_send(channel: EmailChannel, message: EmailMessage) -> None:
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
        smtp.ehlo()
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if channel.username is not None and channel.password is not None:
            smtp.login(channel.username, channel.password.get_secret_value())
        smtp.send_message(message)


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


def notifiers_for(channels: Mapping[str, Channel]) -> dict[str, Notifier]:
    """Return a sender for every configured channel, by name."""
    return {name: notifier_for(name, channel) for name, channel in channels.items()}
