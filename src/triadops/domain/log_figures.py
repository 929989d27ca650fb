"""The figures of a log analysis, computed from counts: masking, range, anomalies, jumps.

Pure arithmetic over what the reader counted, so each rule is tested on its own: a message
masked before template mining, a ``--since`` read, per-minute error rates judged against
their robust norm (median and MAD), and a template's count against the previous window's.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import as_utc

# Triad's own patterns, in this order: an id is masked whole before its digits could be. Each
# runs only when a character it needs is in the message (most messages have few ids).
_MASKS = (
    (
        "-",
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<UUID>",
    ),
    ("op-", re.compile(r"\bop-[0-9a-f]{12}\b"), "<OP>"),
    (".", re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?\b"), "<IP>"),
    ("/", re.compile(r"(?:\b[A-Za-z]:)?(?:/[\w.@%+~-]+){2,}/?"), "<PATH>"),
)
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:%|[a-zA-Z]{1,3}\b|\b)")
_HEX = re.compile(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{8,})\b")
_HEX_LETTER = re.compile(r"[a-fA-FxX]")
WILDCARD = "<*>"
"""What template mining puts where masked messages of one template still differ."""
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
LONGEST = timedelta(days=366)
"""The longest range analysed (the range before it is as long)."""
ROBUST_SCALE = 1.4826
"""MAD times this estimates a normal spread's standard deviation."""


def _hex(found: re.Match[str]) -> str:
    """A hex id has a letter (else it is a number, masked as one next)."""
    word = found.group()
    return "<HEX>" if _HEX_LETTER.search(word) else word


def mask(message: str) -> str:
    """`message` with UUIDs, op-ids, IPs, paths, hex ids and numbers replaced by their kind."""
    for needed, pattern, token in _MASKS[:4]:
        if needed in message:
            message = pattern.sub(token, message)
    message = _HEX.sub(_hex, message)
    return _NUMBER.sub("<NUM>", message)


def same_template(a: str, b: str) -> bool:
    """Whether two templates are one: equal token by token, a wildcard matching anything."""
    if a == b:
        return True
    left, right = a.split(), b.split()
    return len(left) == len(right) and all(
        x == y or WILDCARD in (x, y) for x, y in zip(left, right, strict=True)
    )


def read_since(text: str, now: datetime, *, field: str = "since") -> datetime:
    """Read ``24h``, ``90m``, ``1h30m``, ``7d`` (that long before `now`) or an ISO 8601 time.

    Raises InvalidRequest naming `field` when it is neither, or not before `now`.
    """
    value = text.strip()
    if _DURATION.fullmatch(value):
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhdw])", value)
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in parts)
        if seconds <= 0 or seconds > 366 * 86400:
            raise InvalidRequest(f"{field}: {text!r} must be between 1s and 366d", field=field)
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{field}: {text!r} is neither a duration such as 24h, 90m or 1h30m nor an "
            "ISO 8601 time such as 2026-01-31T09:00:00Z",
            field=field,
        ) from None
    found = as_utc(moment)
    if not EARLIEST <= found <= LATEST:
        raise InvalidRequest(f"{field}: {text!r} is not between 2000 and 9000", field=field)
    return found


@dataclass(frozen=True, slots=True)
class Burst:
    """One minute whose error count is far above the norm of the minutes around it."""

    minute: str
    count: int
    median: float
    score: float
    """How many robust standard deviations above the median."""


def bursts(
    counts: dict[str, int], minutes: list[str], *, threshold: float, min_count: int
) -> tuple[float, list[Burst]]:
    """The median error count per minute over `minutes`, and the minutes far above it.

    A minute with no entry in `counts` had none. The spread is the MAD, at least the square
    root of the median (a count's own noise) and at least 1, so a quiet stream's 0→2 is
    not a burst; `min_count` errors are needed as well.
    """
    if not minutes:
        return 0.0, []
    values = [counts.get(m, 0) for m in minutes]
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    spread = max(ROBUST_SCALE * mad, math.sqrt(median), 1.0)
    found = []
    for minute, count in zip(minutes, values, strict=True):
        score = (count - median) / spread
        if count >= min_count and score >= threshold:
            found.append(Burst(minute, count, float(median), round(score, 1)))
    return float(median), found


def jumped(previous: int, current: int, *, factor: float, min_count: int) -> bool:
    """Whether a template seen `previous` times before is now seen far more often."""
    return previous > 0 and current >= min_count and current >= factor * previous


def change(previous: int, current: int) -> str:
    """``up 40%``, ``down 10%``, ``unchanged``, or ``new`` when there were none before."""
    if previous == 0:
        return "new" if current else "unchanged"
    percent = round(100 * (current - previous) / previous)
    if percent == 0:
        return "unchanged"
    return f"up {percent}%" if percent > 0 else f"down {-percent}%"
