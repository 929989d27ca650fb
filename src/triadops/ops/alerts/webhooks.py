"""Senders that POST: a signed JSON webhook, and a Slack-compatible incoming webhook.

Where a delivery went is told as host and port only (a Slack URL's path is its secret);
what the receiver answered is read only so far, and scrubbed of the URL it may echo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx
import orjson

from triadops import httpclient
from triadops.domain.clock import unix_now
from triadops.ops.alerts.channel_text import receiver_said
from triadops.ops.alerts.payloads import (
    MAX_LISTED,
    USER_AGENT,
    AlertBrief,
    DeliveryFailed,
    NotificationPayload,
    Notifier,
    payload_body,
)
from triadops.ops.alerts.signatures import sign
from triadops.settings import SlackChannel, WebhookChannel

MAX_ERROR_BODY_BYTES = 4096
"""The most of a receiver's error answer that is read."""


class WebhookNotifier(Notifier):
    """POSTs the payload as JSON, signed with ``X-Triad-Timestamp`` and ``X-Triad-Signature``."""

    kind = "webhook"

    def __init__(
        self, name: str, channel: WebhookChannel, *, clock: Callable[[], float] = unix_now
    ) -> None:
        super().__init__(name)
        self.channel = channel
        self._clock = clock
        """Unix seconds for the signed timestamp, from the process's clock by default (the
        receiver's clock judges it)."""

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


async def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float, *, what: str
) -> None:
    where = _where(url)
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        async with (
            asyncio.timeout(timeout_s),
            httpclient.client(timeout=timeout_s) as client,
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
