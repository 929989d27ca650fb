"""Maintenance windows and blackouts: recurring and one-off periods, in a time zone.

A window recurs daily, weekly on a weekday or monthly on a day, at a wall-clock start in its
own zone (``timezone``, an IANA name; "UTC" when left out). Its duration is real time.
Across daylight-saving changes:

- a start that falls in a spring-forward gap (02:30 on a day that jumps from 02:00 to
  03:00) is moved forward by the gap's length (to 03:30), as zoneinfo reads such a time;
- a start that falls twice on a fall-back day opens once, at the first of the two.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

Slot = tuple[datetime, datetime]
"""One occurrence: when it opens and when it closes (aware, UTC)."""


def zone(name: str) -> ZoneInfo:
    """Return the zone named `name`, or refuse it as an unknown time zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Europe/London)"
        ) from None


class MaintenanceWindow(BaseModel):
    """A recurring period: daily, weekly on a weekday, or monthly on a day, in a zone."""

    name: str
    every: Literal["daily", "weekly", "monthly"]
    start: time
    duration_min: int = Field(gt=0, le=24 * 60 * 7)
    weekday: int | None = Field(default=None, ge=0, le=6)
    """For weekly windows: 0 is Monday, 6 is Sunday."""
    day: int | None = Field(default=None, ge=1, le=31)
    """For monthly windows: the day of the month (a month without it has no occurrence)."""
    months: list[int] | None = Field(default=None, min_length=1, max_length=12)
    """Only in these months (1 to 12); every month when left out."""
    timezone: str = "UTC"
    """The zone the start is read in (IANA name)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("months")
    @classmethod
    def _real_months(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 1 <= m <= 12 for m in value):
            raise ValueError("months are 1 (January) to 12 (December)")
        return value

    @model_validator(mode="after")
    def _can_match(self) -> MaintenanceWindow:
        """Refuse a window that validates field by field but can never open."""
        if self.start.tzinfo is not None:
            raise ValueError(f"window {self.name!r}: start is a wall-clock time; use timezone")
        if self.every == "weekly" and self.weekday is None:
            raise ValueError(
                f"weekly window {self.name!r} needs a weekday (0 is Monday, 6 is Sunday)"
            )
        if self.every == "monthly" and self.day is None:
            raise ValueError(f"monthly window {self.name!r} needs a day of the month (1 to 31)")
        if self.every == "monthly" and self.day is not None:
            months = self.months or list(range(1, 13))
            longest = max(calendar.monthrange(2024, m)[1] for m in months)  # a leap year
            if self.day > longest:
                raise ValueError(
                    f"monthly window {self.name!r}: day {self.day} never occurs in months "
                    f"{months}; it would never open"
                )
        return self

    def _opens_on(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        if self.every == "weekly":
            return day.weekday() == self.weekday
        if self.every == "monthly":
            return day.day == self.day
        return True

    def occurrences(self, after: datetime, until: datetime) -> Iterator[Slot]:
        """Yield the occurrences still open after `after` that open before `until`, in order."""
        tz = zone(self.timezone)
        duration = timedelta(minutes=self.duration_min)
        first = (after - duration).astimezone(tz).date() - timedelta(days=1)
        last = until.astimezone(tz).date() + timedelta(days=1)
        day = first
        while day <= last:
            if self._opens_on(day):
                # fold=0: the first of a repeated time; a missing time moves on by the gap.
                opens = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
                if opens + duration > after and opens < until:
                    yield opens, opens + duration
            day += timedelta(days=1)

    def contains(self, moment: datetime) -> bool:
        """True when `moment` falls inside an occurrence of this window."""
        return any(o <= moment for o, _ in self.occurrences(moment, moment + timedelta(1)))


class OneOffBlackout(BaseModel):
    """A single period in which nothing but emergencies runs."""

    name: str
    starts: datetime
    ends: datetime

    @field_validator("starts", "ends")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _ends_after_start(self) -> OneOffBlackout:
        if self.ends <= self.starts:
            raise ValueError(f"blackout {self.name!r}: ends must come after starts")
        return self

    def occurrences(self, after: datetime, until: datetime) -> Iterator[Slot]:
        """Yield the period when it is still open after `after` and opens before `until`."""
        if self.ends > after and self.starts < until:
            yield self.starts, self.ends

    def contains(self, moment: datetime) -> bool:
        """True when `moment` falls inside the period."""
        return self.starts <= moment < self.ends


Blackout = OneOffBlackout | MaintenanceWindow
"""A blackout: one-off (``starts``/``ends``) or recurring (a window's shape)."""
Period = Blackout


DEFAULT_WINDOWS = [
    MaintenanceWindow(name="daily", every="daily", start=time(2, 0), duration_min=60),
    MaintenanceWindow(name="weekly", every="weekly", start=time(1, 0), duration_min=180, weekday=6),
    MaintenanceWindow(name="monthly", every="monthly", start=time(0, 0), duration_min=300, day=1),
]

HORIZON = timedelta(days=400)
"""How far ahead a next slot is looked for (a yearly window fits)."""


def in_any_window(windows: Iterable[Period], moment: datetime) -> bool:
    """True when `moment` falls inside any of the windows (or blackouts)."""
    return any(w.contains(moment) for w in windows)


def covering(periods: Iterable[Period], moment: datetime) -> Slot | None:
    """Return the occurrence containing `moment` that closes last, or None."""
    found: Slot | None = None
    for period in periods:
        for opens, closes in period.occurrences(moment, moment + timedelta(microseconds=1)):
            if opens <= moment < closes and (found is None or closes > found[1]):
                found = (opens, closes)
    return found


def clear_of(blackouts: list[Blackout], moment: datetime) -> datetime:
    """Return the first instant at or after `moment` outside every blackout."""
    for _ in range(1000):  # back-to-back blackouts end; a chain this long is not a calendar
        inside = covering(blackouts, moment)
        if inside is None:
            return moment
        moment = inside[1]
    return moment


def next_slot(
    windows: list[MaintenanceWindow], blackouts: list[Blackout], moment: datetime
) -> datetime | None:
    """Return the first instant at or after `moment` inside a window and outside blackouts.

    None when no window opens within ``HORIZON`` clear of the blackouts.
    """
    until = moment + HORIZON
    opens = sorted(o for w in windows for o in w.occurrences(moment, until))
    for start, end in opens:
        candidate = clear_of(blackouts, max(start, moment))
        if candidate < end:
            return candidate
    return None


ANY_WINDOW = "any"
"""A request's ``window`` that any configured window satisfies."""


def named(windows: Iterable[MaintenanceWindow], name: str) -> list[MaintenanceWindow]:
    """Return the windows a request's ``window`` allows: all for ``any``, else the named one."""
    return [w for w in windows if name == ANY_WINDOW or w.name == name]
