"""The clock every deadline, lease and timestamp reads: the system's, or one a test moves.

Time is a boundary like the database: tests replace the clock instead of rewriting
deadlines in SQL or sleeping a lease out. The one module that reads the system's time:
``datetime.now`` and ``time.time`` are banned everywhere else (ruff's TID251).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time, timezone-aware in UTC."""

    def now(self) -> datetime:
        """Return the current time."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary start that never goes back, for deadlines."""
        ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the system's current time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return the system's monotonic clock."""
        return time.monotonic()


class FakeClock:
    """A clock that stands still until it is moved (for tests and drills)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        # From the system's reading: a clock swapped in mid-run never reads back in time.
        self._monotonic = time.monotonic()

    def now(self) -> datetime:
        """Return the clock's time."""
        return self._now

    def monotonic(self) -> float:
        """Return the system's monotonic reading when the clock was made, plus its moves."""
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`."""
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


_current: Clock = SystemClock()


def utcnow() -> datetime:
    """Return the current time from the process's clock."""
    return _current.now()


def unix_now() -> float:
    """Return the current time from the process's clock, in Unix seconds."""
    return _current.now().timestamp()


def monotonic() -> float:
    """Return the process's clock's monotonic reading: what deadlines are measured on."""
    return _current.monotonic()


def current() -> Clock:
    """Return the process's clock."""
    return _current


@contextmanager
def using(clock: Clock) -> Iterator[Clock]:
    """Make `clock` the process's clock until the block ends."""
    global _current
    previous, _current = _current, clock
    try:
        yield clock
    finally:
        _current = previous
