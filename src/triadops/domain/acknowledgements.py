"""An emergency's acknowledgement as people read it: who, when, and how late. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from triadops.domain.ledger import LedgerEntry

ACKNOWLEDGED = "acknowledged"
"""The ledger event the crown's acknowledgement of an emergency operation records."""


class Acknowledgement(BaseModel):
    """Who acknowledged an emergency operation, when, and how that stood to its deadline."""

    by: str
    at: datetime
    deadline: datetime | None
    late: bool
    """It came after the deadline."""
    late_s: float
    """Seconds past the deadline; 0 when on time."""

    def describe(self) -> str:
        """Say it in one line: ``acknowledged by X at 10:03:12, 3 min 12 s late``."""
        when = self.at.strftime("%Y-%m-%d %H:%M:%S UTC")
        timing = f"{_duration(self.late_s)} late" if self.late else "on time"
        return f"acknowledged by {self.by} at {when}, {timing}"


def acknowledgement_of(
    deadline: datetime | None, timeline: Sequence[LedgerEntry]
) -> Acknowledgement | None:
    """Return the acknowledgement the operation's ledger `timeline` records, or None."""
    entry = next((e for e in timeline if e.event == ACKNOWLEDGED), None)
    if entry is None:
        return None
    late_s = 0.0 if deadline is None else max(0.0, (entry.at - deadline).total_seconds())
    return Acknowledgement(
        by=entry.actor, at=entry.at, deadline=deadline, late=late_s > 0, late_s=late_s
    )


def _duration(seconds: float) -> str:
    """Say a duration as people do: ``45 s``, ``3 min 12 s``, ``2 h 5 min``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
