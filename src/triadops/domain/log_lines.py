"""Read one log line: when it was written, how severe it is, what it says.

Two kinds of line: JSON objects (triad's own streams, and services that log JSON) and plain
text with a time at its start in a common format: ISO 8601 (``2026-01-31T09:00:00Z``,
``2026-01-31 09:00:00,123``), nginx's error log (``2026/01/31 09:00:00``), syslog
(``Jan 31 09:00:00``, this year) or the common/combined access log
(``1.2.3.4 - - [31/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1" 500 …``). Times become UTC
second keys (``2026-01-31T09:00:00``), which sort as the times do: lines are compared and
bucketed by string, never re-parsed. A time without a zone is taken as UTC, as everywhere in
triad. The patterns here are triad's own; nothing a user configures is matched.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The levels, lowest first; every level word is read as one of these."""
WARNING_AND_UP = frozenset({"WARNING", "ERROR", "CRITICAL"})
ERROR_AND_UP = frozenset({"ERROR", "CRITICAL"})
_LEVEL_WORDS = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "information": "INFO",
    "notice": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "err": "ERROR",
    "error": "ERROR",
    "crit": "CRITICAL",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
    "alert": "CRITICAL",
    "emerg": "CRITICAL",
    "panic": "CRITICAL",
}
_LEVEL = re.compile(
    r"\b(trace|debug|info|information|notice|warn|warning|err|error|crit|critical|fatal|alert"
    r"|emerg|panic)\b",
    re.I,
)
LEVEL_LOOKAHEAD = 60
"""Characters after the time searched for a level word (not a word deep in the message)."""
LEADING = 3
"""A level word this close to the time leads the message (``ERROR …``, ``[warn] …``)."""
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_ISO = re.compile(
    r"\[?(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?"
    r" ?(Z|[+-]\d{2}:?\d{2})?\]?"
)
_SYSLOG = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b")
_ACCESS = re.compile(
    r"\S+ \S+ \S+ \[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]"
    r' "[^"]*" (\d{3})\b'
)
EPOCH_MILLISECONDS = 100_000_000_000
"""A numeric time above this is in milliseconds (pino, Java), not seconds (year 5138)."""
_TIME_KEYS = ("timestamp", "time", "@timestamp", "ts", "datetime", "date")
_LEVEL_KEYS = ("level", "levelname", "severity", "log.level", "lvl")
_MESSAGE_KEYS = ("event", "message", "msg", "log")


def level_of(word: object) -> str | None:
    """The level a word names (``warn`` → ``WARNING``), or None."""
    if not isinstance(word, str):
        return None
    return _LEVEL_WORDS.get(word.strip().lower())


def second_key(moment: datetime) -> str:
    """``2026-01-31T09:00:00``: the UTC second `moment` falls in, sortable as text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def key_time(key: str) -> datetime:
    """The UTC time a second key names."""
    return datetime.fromisoformat(key).replace(tzinfo=UTC)


def iso_key(text: str) -> str | None:
    """The second key of an ISO 8601 time, or None when it is not one.

    Triad's own ``2026-01-31T09:00:00.123456Z`` is cut, not parsed: this runs on every line.
    """
    if len(text) >= 20 and text[10] == "T" and (text[-1] == "Z" or text.endswith("+00:00")):
        return text[:19]
    try:
        return second_key(datetime.fromisoformat(text))
    except ValueError:
        return None


def _utc(moment: datetime, zone: str | None) -> str:
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]))
        moment -= sign * offset
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def text_time(line: str, year: int) -> tuple[str, str | None, int] | None:
    """The second key at the start of a plain line, a level it implies, and where it ends.

    An access log's level comes from its status (5xx is an error); syslog has no year, so
    `year` (the file's) is taken. None when the line starts with no known time.
    """
    try:
        found = _ISO.match(line)
        if found:
            y, mo, d, h, mi, s, zone = found.groups()
            moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s))
            return _utc(moment, zone), None, found.end()
        access = _ACCESS.match(line)
        if access:
            d, mon, y, h, mi, s, zone, status = access.groups()
            moment = datetime(int(y), _MONTHS[mon], int(d), int(h), int(mi), int(s))
            level = "ERROR" if status.startswith("5") else "INFO"
            return _utc(moment, zone), level, access.end()
        syslog = _SYSLOG.match(line)
        if syslog and syslog.group(1) in _MONTHS:
            mon, d, h, mi, s = syslog.groups()
            moment = datetime(year, _MONTHS[mon], int(d), int(h), int(mi), int(s))
            return _utc(moment, None), None, syslog.end()
    except (ValueError, KeyError):
        return None
    return None


def text_level(line: str, start: int) -> tuple[str | None, int]:
    """The first level word within `LEVEL_LOOKAHEAD` characters after `start`, or None.

    And where the message begins: past the level word when it leads (``[warn] …``).
    """
    found = _LEVEL.search(line, start, start + LEVEL_LOOKAHEAD)
    if found is None:
        return None, start
    leads = found.start() - start <= LEADING
    end = len(line) - len(line[found.end() :].lstrip(" ]>:|-")) if leads else start
    return _LEVEL_WORDS[found.group(1).lower()], end


def json_fields(record: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """A JSON line's second key, level and message (with its error, when it names one).

    The message is what templates are mined from: the event and the error's text, or the
    last line of a traceback (its exception and message).
    """
    key = None
    for name in _TIME_KEYS:
        value = record.get(name)
        if isinstance(value, str):
            key = iso_key(value)
            break
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if value > EPOCH_MILLISECONDS else value
            try:
                key = second_key(datetime.fromtimestamp(seconds, UTC))
            except (ValueError, OverflowError, OSError):
                key = None
            break
    level = None
    for name in _LEVEL_KEYS:
        if name in record:
            level = level_of(record[name])
            break
    message = ""
    for name in _MESSAGE_KEYS:
        value = record.get(name)
        if isinstance(value, str):
            message = value
            break
    error = record.get("error")
    if isinstance(error, str) and error:
        message = f"{message}: {error}"
    else:
        exception = record.get("exception")
        if isinstance(exception, str) and exception.strip():
            message = f"{message}: {exception.strip().splitlines()[-1]}"
    return key, level, message
