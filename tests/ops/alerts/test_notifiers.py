"""Each notifier against a real receiver: signed webhook, Slack-compatible webhook, SMTP, log."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from tests.fixtures.receivers import http_receiver, smtp_receiver
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts.escalation import build_payload
from triadops.ops.alerts.notifiers import (
    AlertBrief,
    DeliveryFailed,
    EmailNotifier,
    LogNotifier,
    NotificationPayload,
    NotificationReason,
    SlackNotifier,
    WebhookNotifier,
    payload_body,
    sign,
    verify_signature,
)
from triadops.settings import EmailChannel, SlackChannel, WebhookChannel

SECRET = "whsec-do-not-print-7f3a"
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def brief(alert_id: int = 1, name: str = "HighCPU", **labels: str) -> AlertBrief:
    return AlertBrief(
        id=alert_id,
        fingerprint=f"fp{alert_id}",
        alertname=name,
        severity=Severity.CRITICAL,
        state=AlertState.FIRING,
        labels={"alertname": name, **labels},
        annotations={"summary": f"{name} on db-1 <90%> & rising"},
        starts_at=NOW,
        count=3,
    )


def payload(n: int = 2) -> NotificationPayload:
    return build_payload(
        [brief(i, f"Alert{i}") for i in range(1, n + 1)],
        group_key="{alertname='x'}",
        group_labels={"alertname": "x"},
        reason=NotificationReason.FIRING,
        authorities=[Authority.LEGISLATIVE, Authority.EXECUTIVE, Authority.JUDICIAL],
        now=NOW,
    )


async def test_webhook_is_signed_and_the_receiver_accepts_it() -> None:
    sent = payload()
    async with http_receiver(SECRET) as receiver:
        channel = WebhookChannel(url=receiver.url(), secret=SecretStr(SECRET))
        await WebhookNotifier("hook", channel).send(sent)
    [got] = receiver.received
    assert got.status == 200
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-triad-delivery"] == sent.id
    assert got.headers["x-triad-signature"].startswith("sha256=")
    assert abs(int(got.headers["x-triad-timestamp"]) - time.time()) < 60
    document = got.json()
    assert NotificationPayload.model_validate(document) == sent
    assert document["status"] == "firing"
    assert document["reason"] == "firing"
    assert document["authorities"] == ["legislative", "executive", "judicial"]
    assert [a["alertname"] for a in document["alerts"]] == ["Alert1", "Alert2"]
    assert document["summary"] == "[FIRING:2] Alert1, Alert2 (critical)"
    assert SECRET not in got.body.decode()


async def test_the_receiver_refuses_a_replay_a_stale_timestamp_and_a_tampered_body() -> None:
    async with http_receiver(SECRET) as receiver:
        channel = WebhookChannel(url=receiver.url(), secret=SecretStr(SECRET))
        await WebhookNotifier("hook", channel).send(payload())
        original = receiver.received[0]
        headers = {
            k: v for k, v in original.headers.items() if k.startswith(("x-triad", "content-type"))
        }
        async with httpx.AsyncClient() as client:
            tampered = original.body.replace(b"Alert1", b"Alert9")
            r1 = await client.post(receiver.url(), content=tampered, headers=headers)
            # A replay an hour later, its old signature intact.
            old = str(int(time.time()) - 3600)
            stale = {**headers, "x-triad-timestamp": old}
            r2 = await client.post(receiver.url(), content=original.body, headers=stale)
            # ... or re-signed by someone who knows the body but not the secret.
            forged = {**stale, "x-triad-signature": sign("guess", old, original.body)}
            r3 = await client.post(receiver.url(), content=original.body, headers=forged)
            unsigned = {k: v for k, v in headers.items() if k != "x-triad-signature"}
            r4 = await client.post(receiver.url(), content=original.body, headers=unsigned)
            r5 = await client.post(receiver.url(), content=original.body, headers=headers)
    assert [r.status_code for r in (r1, r2, r3, r4)] == [401, 401, 401, 401]
    assert r5.status_code == 200, "the untouched request within the tolerance is still fine"


def test_verify_signature_checks_the_body_the_secret_and_the_time() -> None:
    body = payload_body(payload())
    signature = sign(SECRET, "1000000", body)
    assert verify_signature(SECRET, "1000000", body, signature, now=1000000 + 299)
    assert verify_signature(SECRET, "1000000", body, signature, now=1000000 - 299)
    assert not verify_signature(SECRET, "1000000", body, signature, now=1000000 + 301)
    assert not verify_signature(SECRET, "1000000", body, signature, now=1000000 - 301)
    assert not verify_signature(SECRET, "1000001", body, signature, now=1000000)
    assert not verify_signature("other", "1000000", body, signature, now=1000000)
    assert not verify_signature(SECRET, "1000000", body + b" ", signature, now=1000000)
    assert not verify_signature(SECRET, "soon", body, signature, now=1000000)
    assert not verify_signature(SECRET, "1000000", body, "sha256=", now=1000000)


async def test_a_webhook_without_a_secret_goes_unsigned() -> None:
    async with http_receiver() as receiver:
        await WebhookNotifier("hook", WebhookChannel(url=receiver.url())).send(payload())
    [got] = receiver.received
    assert "x-triad-signature" not in got.headers
    assert "x-triad-timestamp" in got.headers


async def test_webhook_failures_say_what_and_where_without_the_url_path() -> None:
    async with http_receiver() as receiver:
        url = receiver.url("/services/T00/B00/tokensecret123")
        notifier = WebhookNotifier("hook", WebhookChannel(url=url, timeout_s=0.5))
        receiver.fail_next(1, status=500)
        with pytest.raises(DeliveryFailed) as server_error:
            await notifier.send(payload())
        receiver.fail_next(1, status=400)
        with pytest.raises(DeliveryFailed) as refused:
            await notifier.send(payload())
        receiver.delay_s = 2.0
        with pytest.raises(DeliveryFailed) as slow:
            await notifier.send(payload())
        receiver.delay_s = 0
    with pytest.raises(DeliveryFailed) as down:
        await notifier.send(payload())
    where = f"127.0.0.1:{receiver.port}"
    assert server_error.value.transient
    assert server_error.value.message == (
        f"webhook at {where} answered 500 Internal Server Error: failing as told"
    )
    assert not refused.value.transient
    assert refused.value.message.startswith(f"webhook at {where} answered 400 Bad Request")
    assert slow.value.transient
    assert slow.value.message == f"webhook at {where} did not answer within 0.5 s"
    assert down.value.transient
    assert down.value.message.startswith(f"webhook at {where} unreachable: ")
    for failure in (server_error, refused, slow, down):
        assert "tokensecret123" not in failure.value.message
        assert "Traceback" not in failure.value.message


async def test_slack_gets_text_in_markdown() -> None:
    sent = payload(n=23)
    async with http_receiver() as receiver:
        await SlackNotifier("chat", SlackChannel(url=receiver.url("/slack"))).send(sent)
    [got] = receiver.received
    document = got.json()
    assert list(document) == ["text"]
    lines = document["text"].splitlines()
    assert lines[0] == "*[FIRING:23] Alert1, Alert10, Alert11 and 20 more (critical)*"
    assert lines[1] == "• `Alert1` critical firing — Alert1 on db-1 &lt;90%&gt; &amp; rising"
    assert len(lines) == 1 + 20 + 1
    assert lines[-1] == "…and 3 more"


async def test_email_reaches_the_smtp_server_with_subject_and_body() -> None:
    sent = payload()
    async with smtp_receiver() as server:
        channel = EmailChannel(
            host=server.host, port=server.port, sender="triad@example.org", to=["ops@example.org"]
        )
        await EmailNotifier("mail", channel).send(sent)
    [message] = server.messages
    assert message["Subject"] == sent.summary
    assert message["From"] == "triad@example.org"
    assert message["To"] == "ops@example.org"
    assert message["Message-ID"] == f"<{sent.id}@triadops>"
    body = message.get_content()
    assert "Alert1 — critical, firing" in body
    assert "summary: Alert2 on db-1 <90%> & rising" in body
    assert "for legislative, executive, judicial" in body


async def test_email_logs_in_and_a_refused_login_never_shows_the_password() -> None:
    password = "pw-Sup3r-s3cret"
    async with smtp_receiver(username="triad", password=password) as server:
        good = EmailChannel(
            host=server.host,
            port=server.port,
            sender="triad@example.org",
            to=["ops@example.org"],
            username="triad",
            password=SecretStr(password),
        )
        await EmailNotifier("mail", good).send(payload())
        bad = good.model_copy(update={"password": SecretStr("wrong-" + password)})
        with pytest.raises(DeliveryFailed) as refused, capture_logs() as logs:
            await EmailNotifier("mail", bad).send(payload())
    assert len(server.messages) == 1
    assert server.logins[0] == ("triad", True)
    assert server.logins[1:] and all(not ok for _, ok in server.logins[1:])
    assert not refused.value.transient
    assert refused.value.message.startswith(
        f"smtp {server.host}:{server.port} refused (SMTPAuthenticationError): 535"
    )
    assert password not in refused.value.message
    assert password not in repr(refused.value.args)
    assert password not in str(logs)


async def test_email_to_a_server_that_is_down_is_a_transient_failure() -> None:
    async with smtp_receiver() as server:
        host, port = server.host, server.port
    channel = EmailChannel(host=host, port=port, sender="a@b.c", to=["d@e.f"], timeout_s=2)
    with pytest.raises(DeliveryFailed) as down:
        await EmailNotifier("mail", channel).send(payload())
    assert down.value.transient
    assert down.value.message.startswith(f"smtp {host}:{port} unreachable: ")


async def test_the_log_channel_writes_one_line_without_secrets() -> None:
    sent = payload()
    with capture_logs() as logs:
        await LogNotifier("log").send(sent)
    [line] = logs
    assert line["event"] == "alert_notification"
    assert line["log_level"] == "warning"
    assert line["summary"] == sent.summary
    assert line["channel"] == "log"
    assert line["reason"] == "firing"
    assert line["alerts"] == ["Alert1", "Alert2"]
    assert line["delivery"] == sent.id
    assert SECRET not in str(line)
