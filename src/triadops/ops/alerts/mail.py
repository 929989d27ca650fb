"""The email sender: plain text over SMTP (optionally STARTTLS and login), in a thread."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from triadops.logconfig import redact
from triadops.ops.alerts.channel_text import one_line
from triadops.ops.alerts.payloads import (
    MAX_LISTED,
    AlertBrief,
    DeliveryFailed,
    NotificationPayload,
    Notifier,
)
from triadops.settings import EmailChannel

MAX_SUBJECT_CHARS = 250
"""The longest email subject; a longer summary is cut with an ellipsis."""


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
