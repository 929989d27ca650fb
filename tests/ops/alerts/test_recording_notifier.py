"""The recording channel: chosen by configuration like the log one, it keeps what it was sent.

Tests and drills read what the monitor's coordination cycle delivered without a receiver;
a recorder given a failure drills a channel that is down, through the real retry path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts import service
from triadops.ops.alerts.dispatch import SendPolicy, run_cycle
from triadops.ops.alerts.notifiers import (
    DeliveryFailed,
    RecordingNotifier,
    forget_recordings,
    notifiers_for,
    recorded,
)
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, RecordingChannel
from triadops.storage import alerts as store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
QUICK = SendPolicy(first_wait_s=0.01, max_wait_s=0.01)


@pytest.fixture(autouse=True)
def fresh_recordings() -> Iterator[None]:
    forget_recordings()
    yield
    forget_recordings()


def drill_settings(**changes: object) -> AlertSettings:
    """Alert settings as a ``triad.toml`` would give them: every authority on the drill."""
    fields: dict[str, object] = {
        "channels": {"drill": {"kind": "recording"}},
        "routes": {a.value: ["drill"] for a in Authority},
        "fallback": ["drill"],
    }
    return AlertSettings.model_validate(fields | changes)


async def raise_warning(rt: Runtime, settings: AlertSettings, name: str) -> None:
    async with rt.session() as session:
        await service.ingest(
            session,
            [AlertIn(labels={"alertname": name, "host": "db1"}, severity=Severity.WARNING)],
            source="api",
            now=NOW,
            settings=settings,
            by="alice",
        )
        await lifecycle.commit(session)


def test_the_recording_channel_is_chosen_by_configuration() -> None:
    settings = drill_settings()
    assert settings.channels["drill"] == RecordingChannel()
    [sender] = notifiers_for(settings.channels).values()
    assert isinstance(sender, RecordingNotifier)
    assert sender.sent is recorded("drill"), "a configured recorder keeps into its named list"


async def test_the_monitors_cycle_delivers_into_the_recording(runtime: Runtime) -> None:
    settings = drill_settings()
    await raise_warning(runtime, settings, "DiskFull")
    later = NOW + timedelta(seconds=settings.group_wait_s + 1)
    done = await run_cycle(runtime.sessions, now=later, settings=settings, owner="w", policy=QUICK)
    assert (done.queued, done.delivery.sent) == (1, 1)
    [payload] = recorded("drill")
    assert [a.alertname for a in payload.alerts] == ["DiskFull"]
    assert (payload.status, payload.severity) == ("firing", Severity.WARNING)
    assert payload.authorities == [Authority.LEGISLATIVE, Authority.EXECUTIVE]


async def test_a_recorder_given_a_failure_drills_a_channel_that_is_down(
    runtime: Runtime,
) -> None:
    settings = drill_settings(delivery_attempts=1)
    await raise_warning(runtime, settings, "DiskFull")
    down = RecordingNotifier(
        "drill", failure=DeliveryFailed("drill: the pager is down", transient=False)
    )
    later = NOW + timedelta(seconds=settings.group_wait_s + 1)
    done = await run_cycle(
        runtime.sessions,
        now=later,
        settings=settings,
        owner="w",
        policy=QUICK,
        notifiers={"drill": down},
    )
    assert (done.delivery.sent, done.delivery.failed) == (0, 1)
    assert down.sent == [] and recorded("drill") == []
    async with runtime.session(read_only=True) as session:
        [alert] = await store.unresolved_alerts(session)
        shown = await store.group_notifications(
            session, group_key=alert.group_key, since=alert.starts_at
        )
    assert [(n.status, n.last_error) for n in shown] == [("failed", "drill: the pager is down")]
