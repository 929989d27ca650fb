"""Find the log files of a time range and stream their lines, compressed generations too.

A source is a folder: ``triad`` is triad's own (``$TRIAD_HOME/logs``, one JSON-lines stream
per branch), the others are the ``log_dirs`` of the user's services, named by their folder.
Every file of a folder is read (``.gz`` and ``.zst`` decompressed as they stream), oldest
change first, so a stream's rotated generations come before its live file; a file last
changed before the range began cannot hold a line of it and is not opened. Lines are read
one at a time: no file is ever wholly in memory.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

from triadops.settings import Settings

OWN = "triad"
"""The name of triad's own logs as a source."""
PARTIAL = ".rotating"
"""A generation triad's writer is compressing: its ``.gz`` will hold the same lines."""


@dataclass(frozen=True, slots=True)
class Source:
    """A folder of log files, by the name ``--source`` and an operation's systems use."""

    name: str
    folder: Path
    own: bool
    """Triad's own JSON lines, one stream per branch (a line's ``branch`` is its group)."""


def sources(settings: Settings) -> dict[str, Source]:
    """Triad's own logs and each configured log folder, by name (a folder's own name).

    A folder whose name is taken already is named by its whole path.
    """
    found = {OWN: Source(OWN, settings.log_dir, True)}
    for folder in settings.log_dirs:
        name = folder.name if folder.name not in found else str(folder)
        if folder.resolve() != settings.log_dir.resolve():
            found.setdefault(name, Source(name, folder, False))
    return found


def files(source: Source, since: float) -> list[Path]:
    """The source's log files changed at `since` (a POSIX time) or later, oldest first."""
    try:
        entries = list(source.folder.iterdir())
    except OSError:
        return []
    kept: list[tuple[float, str, Path]] = []
    for path in entries:
        if path.name.startswith(".") or path.name.endswith(PARTIAL):
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        if path.is_file() and stat.st_mtime >= since:
            kept.append((stat.st_mtime, path.name, path))
    return [path for _, _, path in sorted(kept)]


def open_lines(path: Path) -> BinaryIO:
    """Open `path` for reading lines of bytes, decompressing ``.gz`` and ``.zst``."""
    if path.name.endswith(".gz"):
        return io.BufferedReader(gzip.GzipFile(path, "rb"))
    if path.name.endswith(".zst"):
        raw = path.open("rb")
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return io.BufferedReader(reader)
    return path.open("rb")


def lines(path: Path) -> Iterator[bytes]:
    """Stream the lines of one file, one at a time."""
    with open_lines(path) as stream:
        yield from stream
