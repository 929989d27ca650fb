"""Maintenance windows: when routine and medium-risk work may run."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class MaintenanceWindow(BaseModel):
    """A recurring window, in UTC: daily, weekly on a weekday, or monthly on a day."""

    name: str
    every: Literal["daily", "weekly", "monthly"]
    start: time
    duration_min: int = Field(gt=0, le=24 * 60 * 7)
    weekday: int | None = Field(default=None, ge=0, le=6)
    """For weekly windows: 0 is Monday, 6 is Sunday."""
    day: int | None = Field(default=None, ge=1, le=28)
    """For monthly windows: the day of the month."""

    @model_validator(mode="after")
    def _names_its_day(self) -> MaintenanceWindow:
        """Refuse a weekly window without its weekday or a monthly one without its day.

        Either would be accepted and then never match: no day equals None.
        """
        if self.every == "weekly" and self.weekday is None:
            raise ValueError(
                f"weekly window {self.name!r} needs a weekday (0 is Monday, 6 is Sunday)"
            )
        if self.every == "monthly" and self.day is None:
            raise ValueError(f"monthly window {self.name!r} needs a day of the month (1 to 28)")
        return self

    def contains(self, moment: datetime) -> bool:
        """True when `moment` (UTC) falls inside an occurrence of this window."""
        duration = timedelta(minutes=self.duration_min)
        # An occurrence that started up to `duration` ago may still be open.
        for days_back in range(0, duration.days + 2):
            day = (moment - timedelta(days=days_back)).date()
            if self.every == "weekly" and day.weekday() != self.weekday:
                continue
            if self.every == "monthly" and day.day != self.day:
                continue
            opened = datetime.combine(day, self.start, tzinfo=moment.tzinfo)
            if opened <= moment < opened + duration:
                return True
        return False


DEFAULT_WINDOWS = [
    MaintenanceWindow(name="daily", every="daily", start=time(2, 0), duration_min=60),
    MaintenanceWindow(name="weekly", every="weekly", start=time(1, 0), duration_min=180, weekday=6),
    MaintenanceWindow(name="monthly", every="monthly", start=time(0, 0), duration_min=300, day=1),
]


def in_any_window(windows: list[MaintenanceWindow], moment: datetime) -> bool:
    """True when `moment` falls inside any of the windows."""
    return any(w.contains(moment) for w in windows)
