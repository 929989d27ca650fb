"""Deliveries: retried with backoff on an injected clock, resumed after a crash, sent once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text

from tests.fixtures.receivers import http_receiver, smtp_receiver
from tests.ops.alerts.test_escalation import SECRET, T0, at, get_alert, raise_alert
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts.dispatch import DeliveryResult, SendPolicy, deliver_due, run_cycle
from triadops.ops.alerts.escalation import retry_at
from triadops.ops.alerts.notifiers import DeliveryFailed, NotificationPayload, Notifier
from triadops.ops.alerts.service import ingest
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, EmailChannel, Settings, SlackChannel, WebhookChannel
from triadops.storage import notifications as store
from triadops.storage.engine import create_engine, session_factory
from triadops.storage.tables import AlertRow, LedgerRow, NotificationRow

QUICK = SendPolicy(first_wait_s=0.01, max_wait_s=0.01)


def webhook_settings(url: str, **changes: Any) -> AlertSettings:
    channel = WebhookChannel(url=url, secret=SecretStr(SECRET), timeout_s=2)
    fields: dict[str, Any] = {
        "channels": {"hook": channel},
        "routes": {a: ["hook"] for a in Authority},
        "fallback": ["hook"],
    }
    return AlertSettings(**(fields | changes))


def payload(n: int) -> dict[str, Any]:
    return {
        "id": f"delivery-{n}",
        "group_key": "{alertname='x'}",
        "group_labels": {"alertname": "x"},
        "status": "firing",
        "reason": "firing",
        "authorities": ["legislative"],
        "severity": "info",
        "summary": f"[FIRING:1] x{n} (info)",
        "alerts": [],
        "created_at": T0.isoformat(),
    }


async def queue(runtime: Runtime, n: int, *, channel: str = "hook") -> None:
    async with runtime.session() as session:
        for i in range(n):
            await store.queue_notification(
                session,
                channel=channel,
                authority="legislative",
                group_key="{alertname='x'}",
                reason="firing",
                payload=payload(i),
                now=T0,
            )
        await session.commit()


async def rows(runtime: Runtime) -> list[NotificationRow]:
    async with runtime.session() as session:
        stmt = select(NotificationRow).order_by(NotificationRow.id)
        return list((await session.execute(stmt)).scalars())


def test_the_backoff_doubles_up_to_ten_minutes_then_gives_up() -> None:
    settings = AlertSettings(delivery_backoff_s=2, delivery_attempts=12)
    pauses = [
        (when - T0).total_seconds()
        if (when := retry_at(attempts=n, now=T0, settings=settings))
        else None
        for n in range(1, 13)
    ]
    assert pauses == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, None]


async def test_a_notifier_that_is_down_then_recovers_gets_it_once(runtime: Runtime) -> None:
    async with http_receiver(SECRET, started=False) as receiver:
        settings = webhook_settings(receiver.url(), delivery_backoff_s=2, delivery_attempts=5)
        alert = await raise_alert(runtime, settings, "DiskFull", now=T0, severity=Severity.INFO)
        down = await run_cycle(
            runtime.sessions, now=at(30), settings=settings, owner="w1", policy=QUICK
        )
        assert down.queued == 1
        assert down.delivery == DeliveryResult(claimed=1, retrying=1)
        [row] = await rows(runtime)
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, at(32))
        assert row.claimed_by is None
        where = f"127.0.0.1:{receiver.port}"
        assert row.last_error is not None
        assert row.last_error.startswith(f"webhook at {where} unreachable: ")

        early = await deliver_due(runtime.sessions, now=at(31), owner="w1", settings=settings)
        assert early == DeliveryResult()

        await receiver.start()
        receiver.fail_next(2)  # both quick tries of the next pass
        failing = await deliver_due(
            runtime.sessions, now=at(32), owner="w1", settings=settings, policy=QUICK
        )
        assert failing == DeliveryResult(claimed=1, retrying=1)
        [row] = await rows(runtime)
        assert (row.attempts, row.next_attempt_at) == (2, at(36))
        assert row.last_error == (
            f"webhook at {where} answered 500 Internal Server Error: failing as told"
        )

        assert (
            await deliver_due(runtime.sessions, now=at(35), owner="w1", settings=settings)
            == DeliveryResult()
        )
        recovered = await deliver_due(
            runtime.sessions, now=at(36), owner="w1", settings=settings, policy=QUICK
        )
        assert recovered == DeliveryResult(claimed=1, sent=1)
        assert (
            await deliver_due(runtime.sessions, now=at(3600), owner="w1", settings=settings)
            == DeliveryResult()
        )
    [row] = await rows(runtime)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 3, at(36))
    assert [r.status for r in receiver.received] == [500, 500, 200]
    assert {r.headers["x-triad-delivery"] for r in receiver.received} == {row.payload["id"]}
    [got] = receiver.accepted
    assert got.json()["alerts"][0]["id"] == alert
    assert (await get_alert(runtime, alert)).state == "firing"


async def test_a_transient_failure_is_retried_within_the_call(runtime: Runtime) -> None:
    async with http_receiver(SECRET) as receiver:
        settings = webhook_settings(receiver.url())
        await queue(runtime, 1)
        receiver.fail_next(1, status=503)
        result = await deliver_due(
            runtime.sessions, now=T0, owner="w1", settings=settings, policy=QUICK
        )
    assert result == DeliveryResult(claimed=1, sent=1)
    assert [r.status for r in receiver.received] == [503, 200]
    [row] = await rows(runtime)
    assert (row.status, row.attempts) == ("sent", 1)


async def test_out_of_attempts_the_delivery_fails_and_the_alert_stays(runtime: Runtime) -> None:
    async with http_receiver(SECRET, started=False) as receiver:
        settings = webhook_settings(
            receiver.url("/hook?token=abc123"), delivery_backoff_s=10, delivery_attempts=3
        )
        alert = await raise_alert(runtime, settings, "DiskFull", now=T0, severity=Severity.INFO)
        await run_cycle(runtime.sessions, now=at(30), settings=settings, owner="w", policy=QUICK)
        second = await deliver_due(
            runtime.sessions, now=at(40), owner="w", settings=settings, policy=QUICK
        )
        assert second == DeliveryResult(claimed=1, retrying=1)
        third = await deliver_due(
            runtime.sessions, now=at(60), owner="w", settings=settings, policy=QUICK
        )
        assert third == DeliveryResult(claimed=1, failed=1)
        later = await deliver_due(runtime.sessions, now=at(9999), owner="w", settings=settings)
        assert later == DeliveryResult()
    [row] = await rows(runtime)
    assert (row.status, row.attempts, row.sent_at) == ("failed", 3, None)
    assert row.last_error is not None
    assert row.last_error.startswith(f"webhook at 127.0.0.1:{receiver.port} unreachable: ")
    for leak in ("abc123", SECRET, "Traceback", "File "):
        assert leak not in row.last_error
    assert (await get_alert(runtime, alert)).state == "firing", "the alert is not lost"


async def test_a_delivery_whose_sender_died_is_sent_by_another_once_its_claim_expires(
    runtime: Runtime,
) -> None:
    async with http_receiver(SECRET) as receiver:
        settings = webhook_settings(receiver.url())
        await queue(runtime, 1)
        async with runtime.session() as session:
            [claimed] = await store.claim_notifications(
                session, owner="dead", now=T0, lease_s=60, limit=10
            )
            await session.commit()
        # "dead" crashed here, between its claim and any send.
        live = T0 + timedelta(seconds=59)
        assert (
            await deliver_due(runtime.sessions, now=live, owner="w2", settings=settings)
            == DeliveryResult()
        )
        expired = T0 + timedelta(seconds=61)
        taken = await deliver_due(runtime.sessions, now=expired, owner="w2", settings=settings)
        assert taken == DeliveryResult(claimed=1, sent=1)
        async with runtime.session() as session:
            late = await store.record_sent(
                session, notification_id=claimed.id, owner="dead", now=expired
            )
            await session.commit()
    assert late is False, "the dead sender's claim was taken over"
    [row] = await rows(runtime)
    assert (row.status, row.attempts, row.claimed_by) == ("sent", 2, None)
    assert len(receiver.accepted) == 1


async def test_a_pending_delivery_survives_a_restart(settings: Settings) -> None:
    async with http_receiver(SECRET) as receiver:
        alerts = webhook_settings(receiver.url())
        first = await Runtime.open(settings, migrate=False)
        try:
            await queue(first, 2)
        finally:
            await first.close()
        second = await Runtime.open(settings, migrate=False)
        try:
            result = await deliver_due(second.sessions, now=T0, owner="w", settings=alerts)
            assert result == DeliveryResult(claimed=2, sent=2)
            assert {r.status for r in await rows(second)} == {"sent"}
        finally:
            await second.close()
    assert sorted(r.json()["id"] for r in receiver.accepted) == ["delivery-0", "delivery-1"]


async def test_two_dispatchers_on_two_engines_send_each_delivery_once(
    runtime: Runtime, settings: Settings
) -> None:
    count = 40
    async with http_receiver(SECRET) as receiver:
        receiver.delay_s = 0.02
        alerts = webhook_settings(receiver.url())
        await queue(runtime, count)
        engines = [create_engine(settings.resolved_database_url) for _ in range(2)]
        try:

            async def dispatcher(index: int) -> int:
                sessions = session_factory(engines[index])
                sent = 0
                for _ in range(100):
                    result = await deliver_due(
                        sessions, now=T0, owner=f"replica-{index}", settings=alerts, limit=3
                    )
                    sent += result.sent
                    assert result.lost_claim == 0
                    if result.claimed == 0:
                        async with sessions() as session:
                            if not await store.any_due_notifications(session, now=T0):
                                return sent
                        await asyncio.sleep(0.01)
                raise AssertionError("the dispatchers did not finish")

            sent = await asyncio.gather(dispatcher(0), dispatcher(1))
        finally:
            for engine in engines:
                await engine.dispose()
    ids = Counter(r.json()["id"] for r in receiver.accepted)
    assert len(ids) == count
    assert set(ids.values()) == {1}, "no delivery was sent twice"
    assert len(receiver.received) == count
    assert sum(sent) == count
    assert min(sent) > 0, f"one dispatcher did all the work: {sent}"
    assert {(r.status, r.attempts) for r in await rows(runtime)} == {("sent", 1)}


class Keeper(Notifier):
    """Keeps what it is sent (beside a sender that crashes: the test is the crash)."""

    kind = "fake"

    def __init__(self, name: str, *, failures: int = 0, transient: bool = True) -> None:
        super().__init__(name)
        self.sent: list[NotificationPayload] = []
        self.failures = failures
        self.transient = transient

    @property
    def timeout_s(self) -> float:
        """Nothing to wait for."""
        return 1.0

    async def send(self, payload: NotificationPayload) -> None:
        """Keep `payload`, or fail while failures remain."""
        if self.failures > 0:
            self.failures -= 1
            raise DeliveryFailed(f"fake {self.name} failed as told", transient=self.transient)
        self.sent.append(payload)


class Broken(Notifier):
    """A sender with a bug: it raises something that is not a delivery failure."""

    kind = "broken"

    @property
    def timeout_s(self) -> float:
        return 1.0

    async def send(self, payload: NotificationPayload) -> None:
        raise KeyError("oops")


async def test_a_broken_or_missing_sender_fails_its_delivery_alone(runtime: Runtime) -> None:
    settings = AlertSettings()
    await queue(runtime, 1, channel="good")
    await queue(runtime, 1, channel="bad")
    await queue(runtime, 1, channel="gone")
    good = Keeper("good")
    result = await deliver_due(
        runtime.sessions,
        now=T0,
        owner="w",
        settings=settings,
        notifiers={"good": good, "bad": Broken("bad")},
        policy=QUICK,
    )
    assert result == DeliveryResult(claimed=3, sent=1, retrying=2)
    assert [p.id for p in good.sent] == ["delivery-0"]
    errors = {r.channel: (r.status, r.last_error) for r in await rows(runtime)}
    assert errors == {
        "good": ("sent", None),
        "bad": ("pending", "channel 'bad' failed: KeyError"),
        "gone": ("pending", "channel 'gone' is not configured"),
    }


async def test_slack_and_email_channels_are_delivered_by_the_cycle(runtime: Runtime) -> None:
    async with http_receiver() as chat, smtp_receiver() as mail:
        settings = AlertSettings(
            channels={
                "chat": SlackChannel(url=chat.url("/services/T/B/x")),
                "mail": EmailChannel(
                    host=mail.host, port=mail.port, sender="triad@x.org", to=["ops@x.org"]
                ),
            },
            routes={Authority.LEGISLATIVE: ["chat"], Authority.EXECUTIVE: ["mail"]},
            fallback=["chat"],
        )
        await raise_alert(runtime, settings, "QueueBacklog", now=T0, severity=Severity.WARNING)
        cycle = await run_cycle(runtime.sessions, now=at(30), settings=settings, owner="w")
        assert cycle.delivery == DeliveryResult(claimed=2, sent=2)
    [message] = mail.messages
    assert message["Subject"] == "[FIRING:1] QueueBacklog (warning)"
    [posted] = chat.received
    assert posted.json()["text"].startswith("*[FIRING:1] QueueBacklog (warning)*")


async def test_deliveries_go_out_by_severity_first_then_age(runtime: Runtime) -> None:
    async with http_receiver(SECRET) as receiver:
        settings = webhook_settings(receiver.url())
        order = [
            ("Chatty", Severity.INFO),
            ("Slow", Severity.WARNING),
            ("OldFire", Severity.EMERGENCY),
            ("Broken", Severity.CRITICAL),
            ("NewFire", Severity.EMERGENCY),
        ]
        for n, (name, severity) in enumerate(order):
            await raise_alert(runtime, settings, name, now=at(n), severity=severity)
        flushed = await run_cycle(
            runtime.sessions, now=at(60), settings=settings, owner="w", policy=QUICK, limit=0
        )
        assert flushed.queued == len(order)
        for _ in order:  # one at a time, so the order sent is the order claimed
            sent = await deliver_due(
                runtime.sessions, now=at(60), owner="w", settings=settings, limit=1
            )
            assert sent == DeliveryResult(claimed=1, sent=1)
    told = [r.json()["alerts"][0]["alertname"] for r in receiver.accepted]
    assert told == ["OldFire", "NewFire", "Broken", "Slow", "Chatty"]


async def test_a_flood_sharing_a_real_alerts_group_is_told_apart_and_after_it(
    runtime: Runtime,
) -> None:
    settings = webhook_settings("http://127.0.0.1:9/hook")
    flood = [
        AlertIn(labels={"alertname": "DatabaseDown", "instance": f"junk-{i}"}, severity="emergency")
        for i in range(50)
    ]
    real = AlertIn(
        labels={"alertname": "DatabaseDown", "instance": "db-main"}, severity="emergency"
    )
    async with runtime.session() as session:
        await ingest(session, flood, source="api", now=T0, settings=settings, by="judge")
        await lifecycle.commit(session)
    async with runtime.session() as session:  # ingest matches silences before it begins
        await ingest(session, [real], source="api", now=T0, settings=settings, by="carol")
        await lifecycle.commit(session)
    async with http_receiver(SECRET) as receiver:
        settings = webhook_settings(receiver.url())
        due = T0 + timedelta(seconds=settings.group_wait_s)
        flushed = await run_cycle(
            runtime.sessions, now=due, settings=settings, owner="w", policy=QUICK, limit=0
        )
        assert flushed.queued == 2, "the group's own notification and the flood's, no more"
        for _ in range(2):
            await deliver_due(runtime.sessions, now=due, owner="w", settings=settings, limit=1)
    first, second = (r.json() for r in receiver.accepted)
    assert [a["labels"]["instance"] for a in first["alerts"]] == ["db-main"]
    assert first["summary"].startswith("[FIRING:1] DatabaseDown (emergency)")
    assert second["summary"] == (
        "[FIRING:50] 50 alerts from judge (emergency), the first 20 listed"
    )
    assert second["group_labels"] == {"raised_by": "judge"}
    assert len(second["alerts"]) == 20
    assert {a["labels"]["instance"] for a in second["alerts"]} <= {f"junk-{i}" for i in range(50)}
    notified = await rows(runtime)
    assert [r.priority for r in notified] == [0, 1], "emergency, then the flood's emergency"
    async with runtime.session() as session:
        stamped = select(func.count()).where(AlertRow.notified_at == due)
        assert (await session.execute(stamped)).scalar() == 51, "every alert was told"


async def test_a_floods_unacknowledged_reminders_are_one_notification(runtime: Runtime) -> None:
    async with http_receiver(SECRET) as receiver:
        settings = webhook_settings(receiver.url(), flood_threshold=5)
        flood = [
            AlertIn(labels={"alertname": f"Junk{i}"}, severity=Severity.EMERGENCY)
            for i in range(30)
        ]
        async with runtime.session() as session:
            await ingest(session, flood, source="api", now=T0, settings=settings, by="judge")
            await lifecycle.commit(session)
        told = T0 + timedelta(seconds=settings.group_wait_s)
        first = await run_cycle(runtime.sessions, now=told, settings=settings, owner="w")
        assert (first.queued, first.delivery.sent) == (1, 1)
        overdue = told + timedelta(seconds=settings.ack_timeout_s)
        reminded = await run_cycle(runtime.sessions, now=overdue, settings=settings, owner="w")
        assert reminded.escalated == 30
        assert reminded.delivery.sent == 1, "one reminder for the flood, not thirty"
    summaries = [r.json()["summary"] for r in receiver.accepted]
    assert summaries[1] == (
        "[FIRING:30] 30 alerts from judge (emergency), the first 20 listed — reminder"
    )
    async with runtime.session() as session:
        escalated = select(func.count()).where(LedgerRow.event == "alert_escalated")
        assert (await session.execute(escalated)).scalar() == 30, "each alert's own entry"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_claim_walks_one_index_range_per_priority(runtime: Runtime) -> None:
    query = (
        "SELECT id FROM notifications WHERE status = 'pending' AND priority = 0"
        " AND next_attempt_at <= '2030-03-01' AND (claimed_until IS NULL"
        " OR claimed_until < '2030-03-01') ORDER BY next_attempt_at, id LIMIT 100"
    )
    async with runtime.engine.connect() as conn:
        plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_notifications_status_priority_next_attempt_at" in details, details
    assert "TEMP B-TREE" not in details, "read in order from the index, not sorted"
