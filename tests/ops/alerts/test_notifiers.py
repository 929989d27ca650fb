"""Each notifier against a real receiver: signed webhook, Slack-compatible webhook, SMTP, log."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs
from typer.testing import CliRunner

from tests.fixtures.api import Api
from tests.fixtures.receivers import http_receiver, smtp_receiver
from tests.ops.alerts.test_dispatch import QUICK
from tests.ops.alerts.test_escalation import T0, at, raise_alert
from triadops.cli.main import app as cli
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts.dispatch import run_cycle
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
from triadops.runtime import Runtime
from triadops.settings import (
    AlertSettings,
    EmailChannel,
    Settings,
    SlackChannel,
    WebhookChannel,
)

SECRET = "whsec-do-not-print-7f3a-9c41e0b25d86"
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


SLACK_PATH = "/services/T0A1B2C3D/B9Z8Y7X6W/Xq7Lm2Pv9Rt4Ks8Jn3Hd5Fb1"
"""A Slack webhook's path: its secret."""


@pytest.mark.parametrize("kind", ["slack", "webhook"])
async def test_a_receiver_echoing_the_url_never_puts_its_path_or_query_in_the_error(
    kind: str,
) -> None:
    async with http_receiver() as receiver:
        receiver.echo = True
        url = receiver.url(SLACK_PATH + "?token=qT5vW8xY2zA4&team=ops")
        notifier = (
            SlackNotifier("chat", SlackChannel(url=url))
            if kind == "slack"
            else WebhookNotifier("hook", WebhookChannel(url=url))
        )
        receiver.fail_next(1, status=500)
        with pytest.raises(DeliveryFailed) as failed:
            await notifier.send(payload())
    [got] = receiver.received
    assert SLACK_PATH in got.path  # the receiver was called at the secret path ...
    said = failed.value.message  # ... and said it back; what is kept does not
    host = f"127.0.0.1:{receiver.port}"
    assert said.startswith(f"{'slack webhook' if kind == 'slack' else 'webhook'} at {host}")
    assert "answered 500 Internal Server Error: no hook at http://127.0.0.1" in said
    for secret in (
        "T0A1B2C3D",
        "B9Z8Y7X6W",
        "Xq7Lm2Pv9Rt4Ks8Jn3Hd5Fb1",
        "qT5vW8xY2zA4",
        "/services",
    ):
        assert secret not in said, said
    assert "\n" not in said and len(said) < 400


async def test_a_huge_error_body_is_read_in_part_and_kept_bounded() -> None:
    async with http_receiver() as receiver:
        receiver.echo = True
        url = receiver.url("/services/" + "A1" * 5000)
        receiver.fail_next(1, status=502)
        with pytest.raises(DeliveryFailed) as failed:
            await SlackNotifier("chat", SlackChannel(url=url)).send(payload())
    assert "A1A1" not in failed.value.message
    assert len(failed.value.message) < 300


async def test_the_receiver_answers_401_to_a_non_ascii_signature_or_timestamp() -> None:
    body = payload_body(payload())
    now = str(int(time.time()))
    async with http_receiver(SECRET) as receiver, httpx.AsyncClient() as client:
        sent = []
        for timestamp, signature in [
            (now, "sha256=\u00ff" + sign(SECRET, now, body)[8:]),
            ("\u0661\u0662\u0663", sign(SECRET, "123", body)),
            (now, sign(SECRET, now, body)),
        ]:
            headers = [
                (b"content-type", b"application/json"),
                (b"x-triad-timestamp", timestamp.encode()),
                (b"x-triad-signature", signature.encode("latin-1", errors="ignore")),
            ]
            if not timestamp.isascii():
                headers[1] = (b"x-triad-timestamp", timestamp.encode())
            sent.append(await client.post(receiver.url(), content=body, headers=headers))
    assert [r.status_code for r in sent] == [401, 401, 200]


def test_verify_signature_returns_false_on_any_malformed_header() -> None:
    body = payload_body(payload())
    good = sign(SECRET, "1000000", body)
    for timestamp, signature in [
        ("1000000", good[:-1] + "é"),
        ("1000000", "sha256=" + "\u2028" * 64),
        ("\u0661\u0660\u0660\u0660\u0660\u0660\u0660", good),  # Arabic-Indic digits
        (" 1000000", good),
        ("1_000_000", good),
        ("", good),
        ("1000000", ""),
    ]:
        assert not verify_signature(SECRET, timestamp, body, signature, now=1000000)
    assert verify_signature(SECRET, "1000000", body, good, now=1000000)


@pytest.mark.parametrize("secret", ["", "short", "x" * 31, "é" * 15])
def test_a_webhook_secret_under_32_bytes_is_refused_naming_the_setting(secret: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(
            alerts={
                "channels": {
                    "log": {"kind": "log"},
                    "hook": {"kind": "webhook", "url": "http://h/x", "secret": secret},
                }
            }
        )
    [error] = refused.value.errors()
    assert error["loc"][:4] == ("alerts", "channels", "hook", "webhook")
    assert error["loc"][-1] == "secret"
    assert "at least 32 bytes" in error["msg"]
    Settings(
        alerts={
            "channels": {
                "log": {"kind": "log"},
                "hook": {"kind": "webhook", "url": "http://h/x", "secret": "é" * 16},
            }
        }
    )


def test_a_short_webhook_secret_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "triad.toml"
    config.write_text(
        "[alerts.channels.log]\n"
        'kind = "log"\n'
        "[alerts.channels.hook]\n"
        'kind = "webhook"\n'
        'url = "http://h/x"\n'
        'secret = "hunter2"\n'
    )
    env = {
        "TRIAD_HOME": str(tmp_path / "home"),
        "TRIAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'triad.db'}",
        "TRIAD_CONFIG": str(config),
    }
    result = CliRunner().invoke(cli, ["ops", "list"], env=env)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "alerts.channels.hook" in line and "secret" in line
    assert "at least 32 bytes" in line and "hunter2" not in result.output


async def test_the_signed_body_carries_the_delivery_id_the_same_on_every_retry() -> None:
    sent = payload()
    async with http_receiver(SECRET) as receiver:
        channel = WebhookChannel(url=receiver.url(), secret=SecretStr(SECRET))
        receiver.fail_next(1, status=503)
        with pytest.raises(DeliveryFailed):
            await WebhookNotifier("hook", channel).send(sent)
        await WebhookNotifier("hook", channel).send(sent)
    first, retry = receiver.received
    assert first.json()["id"] == retry.json()["id"] == sent.id
    # The id is signed: a receiver that deduplicates on it cannot be fooled by a changed one.
    forged = retry.body.replace(sent.id.encode(), b"0" * len(sent.id))
    headers = retry.headers
    assert not verify_signature(
        SECRET, headers["x-triad-timestamp"], forged, headers["x-triad-signature"], now=time.time()
    )


async def test_an_alert_named_with_a_line_separator_does_not_stop_its_groups_email() -> None:
    evil = "Disk\u2028Bcc: evil@x"
    sent = build_payload(
        [brief(1, "HighCPU"), brief(2, evil, host="db\r\nBcc: evil@y")],
        group_key="{alertname=~'.*'}",
        group_labels={"team": "ops\u2029X-Injected: 1"},
        reason=NotificationReason.FIRING,
        authorities=[Authority.JUDICIAL],
        now=NOW,
    )
    async with smtp_receiver() as server:
        channel = EmailChannel(
            host=server.host, port=server.port, sender="triad@example.org", to=["ops@example.org"]
        )
        await EmailNotifier("mail", channel).send(sent)
    [message] = server.messages
    [envelope] = server.keeper.envelopes
    assert envelope.rcpt_tos == ["ops@example.org"]
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\u2028" not in message["Subject"] and "\n" not in message["Subject"]
    assert "Disk Bcc: evil@x" in message["Subject"]
    body = message.get_content()
    assert "HighCPU — critical, firing" in body
    assert "Disk Bcc: evil@x — critical, firing" in body
    assert "host=db Bcc: evil@y" in body


async def test_a_viewer_never_reads_the_slack_path_a_receiver_echoed_into_last_error(
    api: Api, rt: Runtime
) -> None:
    async with http_receiver() as receiver:
        receiver.echo = True
        url = receiver.url(SLACK_PATH)
        settings = AlertSettings(
            channels={"chat": SlackChannel(url=url, timeout_s=2)},
            routes={a: ["chat"] for a in Authority},
            fallback=["chat"],
            delivery_attempts=1,
        )
        alert_id = await raise_alert(rt, settings, "DiskFull", now=T0, severity=Severity.INFO)
        receiver.fail_next(10, status=500)
        done = await run_cycle(rt.sessions, now=at(30), settings=settings, owner="w", policy=QUICK)
    assert done.queued == 1 and receiver.received
    assert all(SLACK_PATH in r.path for r in receiver.received)
    shown = await api.get(f"/alerts/{alert_id}")
    assert shown.status_code == 200, shown.text
    [delivery] = shown.json()["notifications"]
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith(f"slack webhook at 127.0.0.1:{receiver.port}")
    assert "no hook at http://127.0.0.1" in delivery["last_error"]
    for part in ("T0A1B2C3D", "B9Z8Y7X6W", "Xq7Lm2Pv9Rt4Ks8Jn3Hd5Fb1", "/services"):
        assert part not in shown.text
