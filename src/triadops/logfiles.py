"""Triad's own log files: one JSON-lines stream per branch plus ``system``, rotated and gzipped.

A server's events go to ``$TRIAD_HOME/logs/<branch>.log`` as well as stderr. The branch is the
one the event was emitted under (the journey binds it, with the operation id, while a stage
runs), else the one its logger's module belongs to, else ``system``. Records are formatted
(and scrubbed of secrets) where they are emitted, then handed to one background thread
through a bounded queue: the event loop never waits for a disk, and when the disk is too slow
records are dropped and counted rather than queued without end.

Rotation is by size and by age: ``executive.log`` becomes ``executive.log.<UTC stamp>.gz``,
the name ``logs.rotate`` and ``logs.purge`` (the ``log_rotation`` task) already understand, and
only the newest ``keep`` generations stay.
"""

from __future__ import annotations

import gzip
import json
import logging
import logging.handlers
import os
import queue
import shutil
import threading
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

BRANCHES = ("legislative", "executive", "judicial", "crown", "system")
"""The streams: the four powers, and everything else (API, monitor, alerts, scheduler)."""

_BY_MODULE = (
    ("triadops.constitution.legislative", "legislative"),
    ("triadops.constitution.executive", "executive"),
    ("triadops.actions", "executive"),
    ("triadops.constitution.judicial", "judicial"),
    ("triadops.checks", "judicial"),
    ("triadops.constitution.crown", "crown"),
    ("triadops.constitution.ledger", "crown"),
)
QUEUE_SIZE = 10_000
"""Records waiting for the writer thread at most; past it they are dropped and counted."""


def branch_for(logger_name: str | None, bound: Mapping[str, Any]) -> str:
    """The stream an event belongs to: the branch bound while it ran, else its module's."""
    branch = bound.get("branch")
    if isinstance(branch, str) and branch in BRANCHES:
        return branch
    name = logger_name or ""
    for prefix, found in _BY_MODULE:
        if name == prefix or name.startswith(prefix + "."):
            return found
    return "system"


def add_branch(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Name the event's branch (``branch``), as `branch_for` decides it."""
    event_dict["branch"] = branch_for(event_dict.get("logger"), event_dict)
    return event_dict


def _first_time(path: Path) -> float:
    """When the first line of an existing log file was emitted (else its last change)."""
    try:
        with path.open("rb") as f:
            first = json.loads(f.readline())
        return datetime.fromisoformat(first["timestamp"]).timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return path.stat().st_mtime


def _stamp(at: float) -> str:
    """``20250101T020000123456Z``: sortable by name, unique to the microsecond."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%S%fZ")


class RotatingJsonLines(logging.Handler):
    """Append lines to one file; past `max_bytes` or `max_age_s`, gzip it aside and go on.

    Runs only in the writer thread. The generation is renamed first, so a reader never sees
    a file half rotated, then compressed beside it and the plain copy removed.
    """

    def __init__(self, path: Path, *, max_bytes: int, max_age_s: float, keep: int) -> None:
        super().__init__()
        self.path, self.max_bytes, self.max_age_s, self.keep = path, max_bytes, max_age_s, keep
        self._file = path.open("a", encoding="utf-8")
        self._size = self._file.tell()
        self._opened: float | None = _first_time(path) if self._size else None
        """When this file's first line was emitted (a restart does not reset its age)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted line; rotate first when this file is too big or too old."""
        try:
            line = record.getMessage() + "\n"
            self._reopen_if_moved()
            if self._size and (
                self._size + len(line) > self.max_bytes
                or (self._opened is not None and record.created - self._opened >= self.max_age_s)
            ):
                self.rotate(record.created)
            if self._opened is None:
                self._opened = record.created
            self._file.write(line)
            self._file.flush()
            self._size += len(line.encode("utf-8"))
        except Exception:
            self.handleError(record)

    def _reopen_if_moved(self) -> None:
        """Reopen the path when an outside rotation (logrotate) moved or removed the file."""
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self._file.close()
            self._file = self.path.open("a", encoding="utf-8")
            self._size = self._file.tell()
            self._opened = None

    def rotate(self, at: float) -> Path | None:
        """Close this file as a gzipped generation stamped `at`, open a fresh one.

        Return the generation, or None when the file was empty.
        """
        self._file.close()
        generation: Path | None = None
        if self.path.exists() and self.path.stat().st_size:
            stamp = _stamp(at)
            # Not a name `logs.rotate` would take for a generation to finish compressing.
            plain = self.path.with_name(f"{self.path.name}.{stamp}.rotating")
            os.replace(self.path, plain)
            generation = self.path.with_name(f"{self.path.name}.{stamp}.gz")
            with plain.open("rb") as src, gzip.open(generation, "wb") as dst:
                shutil.copyfileobj(src, dst)
            plain.unlink()
            self._prune()
        self._file = self.path.open("a", encoding="utf-8")
        self._size = 0
        self._opened = None
        return generation

    def _prune(self) -> None:
        generations = sorted(self.path.parent.glob(f"{self.path.name}.*.gz"))
        for old in generations[: max(0, len(generations) - self.keep)]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the file."""
        self._file.close()
        super().close()


class BranchRouter(logging.Handler):
    """Send each record to its branch's file (``record.branch``, set where it was emitted)."""

    def __init__(self, streams: Mapping[str, RotatingJsonLines]) -> None:
        super().__init__()
        self.streams = dict(streams)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record to its branch's file."""
        stream = self.streams.get(getattr(record, "branch", "system")) or self.streams["system"]
        stream.handle(record)

    def close(self) -> None:
        """Close every file."""
        for stream in self.streams.values():
            stream.close()
        super().close()


class _BoundedQueueHandler(logging.handlers.QueueHandler):
    """Format where the record is emitted, name its branch, and never block: drop when full."""

    def __init__(self, records: queue.Queue[logging.LogRecord], files: LogFiles) -> None:
        super().__init__(records)
        self.files = files

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as one finished line, with the branch it goes to."""
        bound: Mapping[str, Any] = structlog.contextvars.get_contextvars()
        if isinstance(record.msg, dict):
            bound = {**bound, **record.msg}
        branch = branch_for(record.name, bound)
        prepared: logging.LogRecord = super().prepare(record)
        prepared.branch = branch
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue the record, or count it dropped when the writer is behind."""
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.files.dropped += 1


class LogFiles:
    """The per-branch files of one process: a queue handler for the root logger, one writer."""

    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        max_age_s: float = 86_400.0,
        keep: int = 14,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.dropped = 0
        """Records dropped because the writer thread was behind (never blocks the caller)."""
        self.streams = {
            branch: RotatingJsonLines(
                folder / f"{branch}.log",
                max_bytes=max_bytes,
                max_age_s=max_age_s,
                keep=keep,
            )
            for branch in BRANCHES
        }
        records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
        self.handler = _BoundedQueueHandler(records, self)
        self._listener = logging.handlers.QueueListener(records, BranchRouter(self.streams))
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> None:
        """Start the writer thread."""
        with self._lock:
            if not self._running:
                self._listener.start()
                self._running = True

    def stop(self) -> None:
        """Write what is queued, stop the writer and close the files."""
        with self._lock:
            if self._running:
                self._listener.stop()
                self._running = False
            for stream in self.streams.values():
                stream.close()
