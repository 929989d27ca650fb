"""The maintenance calendar: the next occurrences of every window and blackout."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from triadops.domain.operations import utcnow
from triadops.domain.windows import Period
from triadops.settings import Settings

MAX_DAYS = 366
"""The furthest ahead the calendar looks."""
MAX_ITEMS = 1000
"""At most this many occurrences in one answer (a daily window for a year fits)."""


class Occurrence(BaseModel):
    """One opening of a window or a blackout, in the zone asked for."""

    name: str
    kind: Literal["window", "blackout"]
    opens: datetime
    closes: datetime
    zone: str
    """The zone the window's start is read in (the configured one, not the reader's)."""


def upcoming(
    settings: Settings, *, days: int, tz: ZoneInfo | None, now: datetime | None = None
) -> list[Occurrence]:
    """Return the occurrences open now or opening within `days`, in order, shown in `tz`.

    With no `tz`, the times are shown in this machine's local zone (its own rules at each
    instant, so a DST change inside the range is shown right).
    """
    start = now or utcnow()
    until = start + timedelta(days=days)
    found: list[Occurrence] = []
    sources: list[tuple[Literal["window", "blackout"], list[Period]]] = [
        ("window", list(settings.maintenance_windows)),
        ("blackout", list(settings.maintenance_blackouts)),
    ]
    for kind, periods in sources:
        for period in periods:
            zone = getattr(period, "timezone", "UTC")
            for opens, closes in period.occurrences(start, until):
                found.append(
                    Occurrence(
                        name=period.name,
                        kind=kind,
                        opens=opens.astimezone(tz),
                        closes=closes.astimezone(tz),
                        zone=zone,
                    )
                )
    found.sort(key=lambda o: (o.opens, o.kind, o.name))
    return found[:MAX_ITEMS]
