"""The clock every deadline, lease and timestamp reads: the system's, or one a test moves.

Time is a boundary like the database: tests replace the clock instead of rewriting
deadlines in SQL or sleeping a lease out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time, timezone-aware in UTC."""

    def now(self) -> datetime:
        """Return the current time."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the system's current time in UTC."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until it is moved (for tests and drills)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        """Return the clock's time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self._now += timedelta(seconds=seconds)


_current: Clock = SystemClock()


def utcnow() -> datetime:
    """Return the current time from the process's clock."""
    return _current.now()


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the process's clock until the block ends."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
