"""Group timing and escalation through the branches, driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.fixtures.receivers import http_receiver
from triadops.constitution import ledger, lifecycle
from triadops.domain.alerts import Severity, fingerprint, group_key
from triadops.domain.enums import Authority
from triadops.ops.alerts import dispatch
from triadops.ops.alerts.dispatch import MONITOR, SendPolicy, escalate, flush_groups, run_cycle
from triadops.ops.alerts.escalation import authorities_for, decide_flush, recipients
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, LogChannel, WebhookChannel
from triadops.storage.tables import AlertGroupRow, AlertRow, LedgerRow, NotificationRow

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
SECRET = "escalation-secret-at-least-32-bytes"
QUICK = SendPolicy(first_wait_s=0.01, max_wait_s=0.01)

L, E, J, C = Authority.LEGISLATIVE, Authority.EXECUTIVE, Authority.JUDICIAL, Authority.CROWN


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alert_settings(base_url: str = "http://127.0.0.1:9", **changes: Any) -> AlertSettings:
    """One webhook channel per authority, the crown also on legislative's, a pager fallback."""
    channels: dict[str, Any] = {
        name: WebhookChannel(url=f"{base_url}/{name}", secret=SecretStr(SECRET))
        for name in ("leg", "exe", "jud", "crown", "pager")
    }
    channels["log"] = LogChannel()
    fields: dict[str, Any] = {
        "channels": channels,
        "routes": {L: ["leg"], E: ["exe", "log"], J: ["jud"], C: ["crown", "leg"]},
        "fallback": ["pager"],
    }
    return AlertSettings(**(fields | changes))


async def raise_alert(
    runtime: Runtime,
    settings: AlertSettings,
    name: str,
    *,
    now: datetime,
    severity: Severity = Severity.WARNING,
    **labels: str,
) -> int:
    """Store a firing alert and open its group (group wait) as ingest does."""
    full = {"alertname": name, **labels}
    key = group_key(full, settings.group_by)
    async with runtime.session() as session:
        row = AlertRow(
            fingerprint=fingerprint(full),
            alertname=name,
            state="firing",
            severity=severity.value,
            labels=full,
            annotations={"summary": f"{name} is bad"},
            source="test",
            group_key=key,
            count=1,
            starts_at=now,
            last_seen=now,
            escalation_level=0,
        )
        session.add(row)
        if await session.get(AlertGroupRow, key) is None:
            session.add(
                AlertGroupRow(
                    key=key,
                    labels={n: full.get(n, "") for n in settings.group_by},
                    created_at=now,
                    next_flush_at=now + timedelta(seconds=settings.group_wait_s),
                )
            )
        await session.commit()
        return row.id


async def change_alert(runtime: Runtime, alert_id: int, **values: Any) -> None:
    async with runtime.session() as session:
        row = await session.get(AlertRow, alert_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        await session.commit()


async def get_alert(runtime: Runtime, alert_id: int) -> AlertRow:
    async with runtime.session() as session:
        row = await session.get(AlertRow, alert_id)
        assert row is not None
        return row


async def flush(runtime: Runtime, settings: AlertSettings, now: datetime) -> int:
    async with runtime.session() as session:
        queued = await flush_groups(session, now=now, settings=settings)
        await lifecycle.commit(session)
    return queued


async def escalate_at(runtime: Runtime, settings: AlertSettings, now: datetime) -> int:
    async with runtime.session() as session:
        done = await escalate(session, now=now, settings=settings)
        await lifecycle.commit(session)
    return done


async def notifications(runtime: Runtime, after: int = 0) -> list[NotificationRow]:
    async with runtime.session() as session:
        stmt = (
            select(NotificationRow).where(NotificationRow.id > after).order_by(NotificationRow.id)
        )
        return list((await session.execute(stmt)).scalars())


async def entries(runtime: Runtime, event: str) -> list[LedgerRow]:
    async with runtime.session() as session:
        stmt = select(LedgerRow).where(LedgerRow.event == event).order_by(LedgerRow.seq)
        return list((await session.execute(stmt)).scalars())


def names(rows: list[NotificationRow]) -> list[tuple[str, str, list[str]]]:
    """Each delivery as (channel, reason, alertnames)."""
    return [
        (r.channel, r.reason, [a["alertname"] for a in r.payload["alerts"]])
        for r in sorted(rows, key=lambda r: r.channel)
    ]


def test_severity_climbs_the_branches() -> None:
    assert authorities_for(Severity.INFO) == (L,)
    assert authorities_for(Severity.WARNING) == (L, E)
    assert authorities_for(Severity.CRITICAL) == (L, E, J)
    assert authorities_for(Severity.EMERGENCY) == (L, E, J, C)
    routes = alert_settings().routes
    assert recipients(authorities_for(Severity.EMERGENCY), routes) == {
        "leg": [L, C],
        "exe": [E],
        "log": [E],
        "jud": [J],
        "crown": [C],
    }


def test_an_unchanged_group_with_nothing_firing_does_not_repeat() -> None:
    settings = alert_settings()
    decision = decide_flush([], last_digest=None, last_notified_at=None, now=T0, settings=settings)
    assert decision.reason is None
    assert decision.next_flush_at is None


async def test_each_severity_reaches_its_authorities_channels(runtime: Runtime) -> None:
    settings = alert_settings()
    for severity in Severity:
        await raise_alert(runtime, settings, f"A_{severity}", now=T0, severity=severity)
    assert await flush(runtime, settings, at(30)) == 1 + 3 + 4 + 5
    rows = await notifications(runtime)
    reached = {
        r.payload["alerts"][0]["severity"]: sorted(
            x.channel for x in rows if x.group_key == r.group_key
        )
        for r in rows
    }
    assert reached == {
        "info": ["leg"],
        "warning": ["exe", "leg", "log"],
        "critical": ["exe", "jud", "leg", "log"],
        "emergency": ["crown", "exe", "jud", "leg", "log"],
    }
    emergency_leg = next(
        r for r in rows if r.channel == "leg" and r.payload["severity"] == "emergency"
    )
    assert emergency_leg.payload["authorities"] == ["legislative", "crown"]
    assert emergency_leg.authority == "crown"
    assert {r.status for r in rows} == {"pending"}
    assert all(r.next_attempt_at == at(30) for r in rows)


async def test_group_wait_collects_the_alerts_that_arrive_during_it(runtime: Runtime) -> None:
    settings = alert_settings(group_by=["team"])
    await raise_alert(runtime, settings, "HighCPU", now=T0, team="db")
    await raise_alert(runtime, settings, "SlowQueries", now=at(10), team="db")
    await raise_alert(runtime, settings, "DiskFull", now=at(20), team="web")
    assert await flush(runtime, settings, at(29)) == 0
    assert await notifications(runtime) == []
    assert await flush(runtime, settings, at(30)) == 3  # team=db: leg, exe, log
    rows = await notifications(runtime)
    assert names(rows) == [
        ("exe", "firing", ["HighCPU", "SlowQueries"]),
        ("leg", "firing", ["HighCPU", "SlowQueries"]),
        ("log", "firing", ["HighCPU", "SlowQueries"]),
    ]
    assert rows[0].payload["group_labels"] == {"team": "db"}
    assert rows[0].payload["summary"] == "[FIRING:2] HighCPU, SlowQueries (warning)"
    assert await flush(runtime, settings, at(49)) == 0, "team=web waits from 20 s to 50 s"
    assert await flush(runtime, settings, at(50)) == 3
    assert names(await notifications(runtime, rows[-1].id)) == [
        ("exe", "firing", ["DiskFull"]),
        ("leg", "firing", ["DiskFull"]),
        ("log", "firing", ["DiskFull"]),
    ]


async def test_a_new_alert_in_a_notified_group_waits_for_the_group_interval(
    runtime: Runtime,
) -> None:
    settings = alert_settings(group_by=["team"])
    await raise_alert(runtime, settings, "HighCPU", now=T0, team="db")
    assert await flush(runtime, settings, at(30)) == 3
    last = (await notifications(runtime))[-1].id
    await raise_alert(runtime, settings, "SlowQueries", now=at(40), team="db")
    for second in (40, 60, 120, 329):
        assert await flush(runtime, settings, at(second)) == 0, second
    assert await flush(runtime, settings, at(330)) == 3
    assert names(await notifications(runtime, last)) == [
        ("exe", "firing", ["HighCPU", "SlowQueries"]),
        ("leg", "firing", ["HighCPU", "SlowQueries"]),
        ("log", "firing", ["HighCPU", "SlowQueries"]),
    ]


async def test_an_unchanged_firing_group_repeats_after_the_repeat_interval(
    runtime: Runtime,
) -> None:
    settings = alert_settings(routes={L: ["leg"]})
    await raise_alert(runtime, settings, "HighCPU", now=T0, severity=Severity.INFO)
    assert await flush(runtime, settings, at(30)) == 1
    repeat_due = 30 + 4 * 3600
    for second in (330, 630, 3600, repeat_due - 1):
        assert await flush(runtime, settings, at(second)) == 0, second
    async with runtime.session() as session:
        group = await session.get(AlertGroupRow, "{alertname='HighCPU'}")
        assert group is not None
        assert group.next_flush_at == at(repeat_due), "it wakes exactly when the repeat is due"
    assert await flush(runtime, settings, at(repeat_due)) == 1
    [first, repeat] = await notifications(runtime)
    assert (first.reason, repeat.reason) == ("firing", "repeat")
    assert repeat.payload["summary"] == "[FIRING:1] HighCPU (info) — still firing"
    assert await flush(runtime, settings, at(repeat_due + 300)) == 0


async def test_an_acknowledged_group_does_not_repeat(runtime: Runtime) -> None:
    settings = alert_settings(routes={L: ["leg"]}, ack_quiet_s=24 * 3600)
    alert = await raise_alert(runtime, settings, "HighCPU", now=T0, severity=Severity.INFO)
    assert await flush(runtime, settings, at(30)) == 1
    await change_alert(runtime, alert, state="acknowledged", acknowledged_at=at(60))
    assert await flush(runtime, settings, at(330)) == 1, "the acknowledgement is news"
    assert (await notifications(runtime))[-1].payload["alerts"][0]["state"] == "acknowledged"
    assert await flush(runtime, settings, at(330 + 5 * 3600)) == 0


async def test_resolution_is_notified_then_the_group_ends(runtime: Runtime) -> None:
    settings = alert_settings(group_by=["team"], routes={L: ["leg"]})
    a = await raise_alert(runtime, settings, "HighCPU", now=T0, severity=Severity.INFO, team="db")
    b = await raise_alert(
        runtime, settings, "SlowQueries", now=T0, severity=Severity.INFO, team="db"
    )
    assert await flush(runtime, settings, at(30)) == 1
    await change_alert(runtime, a, state="resolved", resolved_at=at(100))
    assert await flush(runtime, settings, at(330)) == 1
    partly = (await notifications(runtime))[-1]
    assert partly.payload["status"] == "firing"
    assert [(x["alertname"], x["state"]) for x in partly.payload["alerts"]] == [
        ("SlowQueries", "firing"),
        ("HighCPU", "resolved"),
    ]
    await change_alert(runtime, b, state="resolved", resolved_at=at(400))
    assert await flush(runtime, settings, at(630)) == 1
    resolved = (await notifications(runtime))[-1]
    assert (resolved.reason, resolved.payload["status"]) == ("resolved", "resolved")
    assert resolved.payload["summary"] == "[RESOLVED:1] SlowQueries (info)"
    assert [x["state"] for x in resolved.payload["alerts"]] == ["resolved"]
    assert await flush(runtime, settings, at(930)) == 0
    async with runtime.session() as session:
        assert await session.get(AlertGroupRow, "{team='db'}") is None, "an empty group ends"
    await raise_alert(runtime, settings, "HighCPU", now=at(1000), severity=Severity.INFO, team="db")
    assert await flush(runtime, settings, at(1029)) == 0
    assert await flush(runtime, settings, at(1030)) == 1, "a new group, a new group wait"


async def test_a_silenced_alert_is_not_told_until_its_silence_ends(runtime: Runtime) -> None:
    settings = alert_settings(routes={L: ["leg"]})
    alert = await raise_alert(runtime, settings, "HighCPU", now=T0, severity=Severity.INFO)
    await change_alert(runtime, alert, state="silenced", silence_id="s1")
    assert await flush(runtime, settings, at(30)) == 0
    await change_alert(runtime, alert, state="firing", silence_id=None)
    assert await flush(runtime, settings, at(329)) == 0
    assert await flush(runtime, settings, at(330)) == 1


async def test_an_unacknowledged_emergency_is_reminded_then_reaches_the_fallback(
    runtime: Runtime,
) -> None:
    settings = alert_settings(ack_timeout_s=900, renotify_limit=2)
    assert settings.max_repages == 3
    alert = await raise_alert(
        runtime, settings, "DatabaseDown", now=T0, severity=Severity.EMERGENCY
    )
    assert await flush(runtime, settings, at(30)) == 5
    assert (await get_alert(runtime, alert)).ack_deadline == at(930)
    seen = (await notifications(runtime))[-1].id
    assert await escalate_at(runtime, settings, at(929)) == 0
    steps = []
    deadlines = [930 + 900 * i for i in range(7)]
    for deadline in deadlines:
        assert await escalate_at(runtime, settings, at(deadline)) == 1
        rows = await notifications(runtime, seen)
        seen = rows[-1].id
        steps.append((sorted(r.channel for r in rows), {r.reason for r in rows}))
        assert await escalate_at(runtime, settings, at(deadline + 899)) == 0
    path = ["crown", "exe", "jud", "leg", "log"]
    assert steps == [
        (path, {"reminder"}),
        (path, {"reminder"}),
        *[(["pager"], {"fallback"})] * 5,  # the fallback, 3 re-pages, the last notice
    ]
    row = await get_alert(runtime, alert)
    # Re-pages stopped: still firing and visible, nothing more is due.
    assert (row.escalation_level, row.ack_deadline, row.state) == (7, None, "firing")
    assert await escalate_at(runtime, settings, at(deadlines[-1] + 900 * 20)) == 0
    assert (await notifications(runtime))[-1].id == seen
    escalated = await entries(runtime, "alert_escalated")
    assert [(e.actor, e.details["level"], e.details["reason"]) for e in escalated] == [
        (MONITOR, 1, "reminder"),
        (MONITOR, 2, "reminder"),
        (MONITOR, 3, "fallback"),
        (MONITOR, 4, "fallback"),
        (MONITOR, 5, "fallback"),
        (MONITOR, 6, "fallback"),
        (MONITOR, 7, "repages_stopped"),
    ]
    assert escalated[2].details["channels"] == ["pager"]
    assert escalated[0].details["alert"] == alert
    summaries = [r.payload["summary"] for r in await notifications(runtime) if r.channel == "pager"]
    assert summaries == [
        "[FIRING:1] DatabaseDown (emergency) — not acknowledged after 2 reminders, fallback",
        *(
            f"[FIRING:1] DatabaseDown (emergency) — not acknowledged after 2 reminders, "
            f"fallback re-page {n}/3"
            for n in (1, 2, 3)
        ),
        "[FIRING:1] DatabaseDown (emergency) — still unacknowledged after 4 fallback pages, "
        "stopping re-pages",
    ]
    fallback = (await notifications(runtime))[-1]
    assert fallback.authority is None
    async with runtime.session() as session:
        assert (await ledger.verify(session)).ok


async def test_an_acknowledgement_stops_the_reminders(runtime: Runtime) -> None:
    settings = alert_settings(ack_timeout_s=900)
    alert = await raise_alert(
        runtime, settings, "DatabaseDown", now=T0, severity=Severity.EMERGENCY
    )
    await flush(runtime, settings, at(30))
    assert await escalate_at(runtime, settings, at(930)) == 1
    await change_alert(
        runtime, alert, state="acknowledged", acknowledged_at=at(1000), acknowledged_by="queen"
    )
    before = len(await notifications(runtime))
    for second in (1830, 2730, 3630):
        assert await escalate_at(runtime, settings, at(second)) == 0
    assert len(await notifications(runtime)) == before
    assert len(await entries(runtime, "alert_escalated")) == 1


async def test_an_acknowledgement_is_told_as_one_not_as_a_new_firing(runtime: Runtime) -> None:
    settings = alert_settings(ack_timeout_s=900)
    alert = await raise_alert(
        runtime, settings, "DatabaseDown", now=T0, severity=Severity.EMERGENCY
    )
    await flush(runtime, settings, at(30))
    seen = (await notifications(runtime))[-1].id
    await change_alert(
        runtime, alert, state="acknowledged", acknowledged_at=at(100), acknowledged_by="queen"
    )
    assert await flush(runtime, settings, at(330)) == 5, "the acknowledgement is news"
    told = await notifications(runtime, seen)
    assert {r.payload["summary"] for r in told} == {
        "[ACKNOWLEDGED:1] DatabaseDown (emergency) — acknowledged by queen"
    }


async def test_an_acknowledgement_that_goes_quiet_re_enters_escalation(runtime: Runtime) -> None:
    settings = alert_settings(ack_timeout_s=900, ack_quiet_s=3600)
    alert = await raise_alert(
        runtime, settings, "DatabaseDown", now=T0, severity=Severity.EMERGENCY
    )
    await flush(runtime, settings, at(30))
    await change_alert(
        runtime, alert, state="acknowledged", acknowledged_at=at(100), acknowledged_by="queen"
    )
    assert await flush(runtime, settings, at(330)) == 5, "the acknowledgement is news"
    seen = (await notifications(runtime))[-1].id
    assert await escalate_at(runtime, settings, at(3699)) == 0
    assert await escalate_at(runtime, settings, at(3700)) == 1
    row = await get_alert(runtime, alert)
    assert (row.state, row.acknowledged_by, row.acknowledged_at) == ("firing", None, None)
    [entry] = await entries(runtime, "alert_reescalated")
    assert entry.actor == MONITOR
    assert entry.details["alert"] == alert
    assert entry.details["acknowledged_by"] == "queen"
    # Its path hears at once that it is still firing, and when it was acknowledged: not a
    # new alert, and not told a second time by the group's flush.
    again = await notifications(runtime, seen)
    assert sorted(r.channel for r in again) == ["crown", "exe", "jud", "leg", "log"]
    assert {r.reason for r in again} == {"repeat"}
    assert {r.payload["summary"] for r in again} == {
        "[FIRING:1] DatabaseDown (emergency) — acknowledged by queen 60 min ago, still firing"
    }
    assert await flush(runtime, settings, at(3700)) == 0
    assert (await get_alert(runtime, alert)).ack_deadline == at(3700 + 900)
    assert await escalate_at(runtime, settings, at(3700 + 900)) == 1, "reminded again"
    async with runtime.session() as session:
        assert (await ledger.verify(session)).ok


async def test_a_cycle_delivers_an_emergency_along_its_path_once(runtime: Runtime) -> None:
    async with http_receiver(SECRET) as receiver:
        settings = alert_settings(receiver.url(""))
        await raise_alert(runtime, settings, "DatabaseDown", now=T0, severity=Severity.EMERGENCY)
        first = await run_cycle(
            runtime.sessions, now=at(10), settings=settings, owner="w1", policy=QUICK
        )
        assert (first.queued, first.delivery.claimed) == (0, 0)
        cycle = await run_cycle(
            runtime.sessions, now=at(30), settings=settings, owner="w1", policy=QUICK
        )
        assert (cycle.queued, cycle.escalated) == (5, 0)
        assert (cycle.delivery.claimed, cycle.delivery.sent) == (5, 5)
        again = await run_cycle(
            runtime.sessions, now=at(60), settings=settings, owner="w1", policy=QUICK
        )
        assert again == dispatch.CycleResult()
    assert sorted(r.path for r in receiver.received) == ["/crown", "/exe", "/jud", "/leg"]
    assert {r.status for r in receiver.received} == {200}
    by_path = {r.path: r.json() for r in receiver.received}
    assert by_path["/leg"]["authorities"] == ["legislative", "crown"]
    assert by_path["/crown"]["reason"] == "firing"
    rows = await notifications(runtime)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert all(r.sent_at == at(30) for r in rows)


@pytest.mark.parametrize("severity", [Severity.INFO, Severity.CRITICAL])
async def test_only_emergencies_wait_for_an_acknowledgement(
    runtime: Runtime, severity: Severity
) -> None:
    settings = alert_settings(ack_timeout_s=900)
    alert = await raise_alert(runtime, settings, "Thing", now=T0, severity=severity)
    await flush(runtime, settings, at(30))
    assert (await get_alert(runtime, alert)).ack_deadline is None
    assert await escalate_at(runtime, settings, at(10_000)) == 0
