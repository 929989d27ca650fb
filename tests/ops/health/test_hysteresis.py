"""Holding health alerts: fire after `for`, resolve after clear-after; pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triadops.domain.alerts import Severity
from triadops.domain.health import AlertTrack, RaisedAlert
from triadops.ops.health.hysteresis import Held, hold
from triadops.settings import AlertTiming, AlertTimings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CPU = RaisedAlert(
    alertname="HostCpuHigh",
    severity=Severity.WARNING,
    component="host",
    summary="host cpu_percent fail",
    labels={"alertname": "HostCpuHigh", "component": "host", "system": "host"},
    threshold_key="cpu_percent",
)
TIMINGS = AlertTimings(cpu_percent=AlertTiming(for_s=120, clear_s=60))


def step(
    conditions: list[RaisedAlert], tracks: list[AlertTrack], at_s: float, prev_s: float | None
) -> Held:
    return hold(
        conditions,
        tracks,
        now=T0 + timedelta(seconds=at_s),
        previous_at=None if prev_s is None else T0 + timedelta(seconds=prev_s),
        timings=TIMINGS,
        grace_s=150,
    )


def test_a_condition_fires_once_it_held_for_its_for() -> None:
    first = step([CPU], [], 0, None)
    assert (first.pending, first.raised) == ([CPU], [])
    second = step([CPU], first.tracks, 60, 0)
    assert second.pending == [CPU]
    fired = step([CPU], second.tracks, 120, 60)
    assert (fired.pending, fired.raised) == ([], [CPU])


def test_a_firing_alert_resolves_only_after_its_clear_after() -> None:
    fired = step([CPU], [AlertTrack(alert=CPU, firing=True, since=T0)], 0, None)
    clearing = step([], fired.tracks, 30, 0)
    assert (clearing.raised, clearing.clearing) == ([], [CPU])
    back = step([CPU], clearing.tracks, 50, 30)  # back within the clear-after: the same alert
    assert back.raised == [CPU] and back.tracks[0].since == T0
    gone = step([], step([], back.tracks, 60, 50).tracks, 120, 60)
    assert gone.firing == [] and gone.tracks == []


def test_a_gap_nobody_looked_at_restarts_a_pending_condition() -> None:
    first = step([CPU], [], 0, None)
    # The next check comes 600 s later (no leader meanwhile): not known to have held.
    late = step([CPU], first.tracks, 600, 0)
    assert late.pending == [CPU] and late.tracks[0].since == T0 + timedelta(seconds=600)
    # A firing alert is continued whatever the gap.
    fired = [AlertTrack(alert=CPU, firing=True, since=T0)]
    assert step([CPU], fired, 600, 0).raised == [CPU]
