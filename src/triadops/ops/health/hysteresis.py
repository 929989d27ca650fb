"""Hold health alerts as Prometheus rules do: fire after ``for``, resolve after clear-after.

Pure: no I/O, no clock. Each check's report carries its alerts' tracks forward
(`HealthCounters.alert_tracks`, stored with the report), so the next check continues them
whichever worker leads then: the state lives in the database with the report, not in one
process's memory, and a leader that moves takes nothing with it.

- A condition seen for the first time is pending; it fires once it has held for its
  threshold's ``for_s`` (at once when that is 0). A pending condition that clears is
  forgotten: a spike shorter than ``for_s`` opens no alert.
- A firing alert whose condition clears keeps firing until it has been clear for
  ``clear_s``; a condition back within that span is the same alert, so a flapping signal
  stays one alert.
- A pending condition is continued only from a report at most `grace_s` old: nobody looked
  in between, so it is not known to have held (a firing alert is continued whatever the
  gap: it is open in the alerts table anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triadops.domain.health import AlertTrack, RaisedAlert
from triadops.settings import AlertTimings


@dataclass(frozen=True, slots=True)
class Held:
    """What hysteresis makes of one report's conditions."""

    raised: list[RaisedAlert]
    """Firing alerts whose condition holds now: fed to the alerts again."""
    clearing: list[RaisedAlert]
    """Firing alerts whose condition is clear, not yet for their clear-after: kept open."""
    pending: list[RaisedAlert]
    """Conditions holding, not yet for their ``for``: no alert yet."""
    tracks: list[AlertTrack]
    """Carried to the next report."""

    @property
    def firing(self) -> list[RaisedAlert]:
        """Every alert that stays open: raised now, or clearing."""
        return [*self.raised, *self.clearing]


def hold(
    conditions: Sequence[RaisedAlert],
    tracks: Sequence[AlertTrack],
    *,
    now: datetime,
    previous_at: datetime | None,
    timings: AlertTimings,
    grace_s: float,
) -> Held:
    """Continue `tracks` (from the report checked at `previous_at`) with `conditions` now."""
    recent = previous_at is not None and now - previous_at <= timedelta(seconds=grace_s)
    known = {t.alert.key: t for t in tracks if t.firing or recent}
    raised: list[RaisedAlert] = []
    pending: list[RaisedAlert] = []
    kept: list[AlertTrack] = []
    for alert in conditions:
        track = known.pop(alert.key, None)
        timing = timings.of(alert.threshold_key)
        if track is not None and track.firing:
            kept.append(AlertTrack(alert=alert, firing=True, since=track.since))
            raised.append(alert)
            continue
        since = now if track is None else track.since
        if now - since >= timedelta(seconds=timing.for_s):
            kept.append(AlertTrack(alert=alert, firing=True, since=now))
            raised.append(alert)
        else:
            kept.append(AlertTrack(alert=alert, firing=False, since=since))
            pending.append(alert)
    clearing: list[RaisedAlert] = []
    for track in known.values():
        if not track.firing:
            continue  # a pending condition that cleared: never an alert
        clear_since = track.clear_since or now
        if now - clear_since < timedelta(seconds=timings.of(track.alert.threshold_key).clear_s):
            kept.append(track.model_copy(update={"clear_since": clear_since}))
            clearing.append(track.alert)
    return Held(raised=raised, clearing=clearing, pending=pending, tracks=kept)
