"""Real log files for the analysis tests: triad's JSON lines, written where the server would."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson


def stamp(at: datetime) -> str:
    """Triad's own timestamp: ISO 8601, UTC, microseconds, ``Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line(
    at: datetime, event: str, level: str = "info", branch: str = "executive", **kw: Any
) -> str:
    """One JSON line as triad's log files hold it."""
    record = {
        "event": event,
        "level": level,
        "timestamp": stamp(at),
        "logger": f"triadops.constitution.{branch}",
        "branch": branch,
        **kw,
    }
    return orjson.dumps(record).decode()


def write(path: Path, lines: Iterable[str]) -> Path:
    """Append `lines` to `path` (made with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for one in lines:
            f.write(one + "\n")
    return path


TEMPLATES = {
    "payment <NUM> failed for user <NUM>": lambda r: (
        f"payment {r.randint(1, 10**6)} failed for user {r.randint(1, 999)}"
    ),
    "backup <UUID> is missing <PATH>": lambda r: (
        f"backup {_uuid(r)} is missing /var/lib/triad/backups/{r.randint(1, 99)}/data.db"
    ),
    "operation <OP> timed out after <NUM>": lambda r: (
        f"operation op-{r.getrandbits(48):012x} timed out after {r.randint(1, 600)}s"
    ),
    "connection to <IP> refused": lambda r: (
        f"connection to 10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}:5432 refused"
    ),
    "checksum <HEX> does not match": lambda r: f"checksum {r.getrandbits(60):015x}a does not match",
}
"""Five known templates (masked as the analysis masks them) and how to make a line of each."""


def _uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
