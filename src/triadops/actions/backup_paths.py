"""The files an archive backup takes: configured paths and globs, walked, links judged.

Each configured path (or each match of a glob) is a root. Folders are walked whole. A link
is followed only when what it resolves to is a file inside one of the roots; a link out of
them, or to a folder (which could loop), is left out with its reason, as is anything that
is not a regular file. Blocking: call it in a thread.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from triadops.domain.backups import Skipped

GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class Source:
    """One file to archive: its name in the archive, where it was found, what to read."""

    name: str
    """A relative POSIX path: the absolute path without its leading ``/``."""
    path: Path
    """Where it was found (a link's own path for a link that is followed)."""
    read: Path
    """What is read: the file itself, or a followed link's resolved target."""


def archive_name(path: Path) -> str:
    """The name `path` gets in an archive: absolute, made relative (``/etc/x`` → ``etc/x``)."""
    return Path(os.path.normpath(path)).as_posix().lstrip("/")


def _matches(pattern: str) -> list[Path]:
    expanded = os.path.expanduser(pattern)
    if GLOB_CHARS & set(expanded):
        return [Path(p) for p in sorted(glob.glob(expanded, recursive=True))]
    path = Path(expanded)
    return [path] if path.exists() or path.is_symlink() else []


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _judge(path: Path, roots: list[Path], banned: list[Path]) -> Source | Skipped | None:
    """The file `path` to take, or why it is left out; None for what is silently not taken."""
    if _inside(path.resolve() if not path.is_symlink() else path, banned):
        return None
    read = path
    if path.is_symlink():
        read = path.resolve()
        if read.is_dir():
            return Skipped(path=str(path), reason="a link to a folder: not followed")
        if not _inside(read, roots):
            return Skipped(path=str(path), reason=f"a link out of the configured paths ({read})")
        if _inside(read, banned):
            return None
    if not read.is_file():
        return Skipped(path=str(path), reason="not a regular file") if read.exists() else None
    return Source(name=archive_name(path), path=path, read=read)


def collect(
    patterns: list[str], *, exclude: list[str], leave_out: list[Path], required: bool
) -> tuple[list[Source], list[Skipped]]:
    """The files under `patterns`, and what was left out with why.

    `leave_out` are folders never taken (the backups folder); `exclude` are fnmatch
    patterns on the full path. With `required`, a pattern matching nothing is named in
    the skipped list (the caller may fail on it); defaults that are absent are not.
    """
    skipped: list[Skipped] = []
    found: list[Path] = []
    for pattern in patterns:
        matched = _matches(pattern)
        if not matched and required:
            skipped.append(Skipped(path=pattern, reason="matches nothing"))
        found += [Path(os.path.abspath(m)) for m in matched]
    roots = [p.resolve() for p in found]
    banned = [p.resolve() for p in leave_out]
    sources: dict[str, Source] = {}

    def consider(path: Path) -> None:
        if any(fnmatch.fnmatch(str(path), x) for x in exclude):
            return
        judged = _judge(path, roots, banned)
        if isinstance(judged, Skipped):
            skipped.append(judged)
        elif judged is not None:
            sources.setdefault(judged.name, judged)

    def on_error(exc: OSError) -> None:
        skipped.append(Skipped(path=str(exc.filename), reason=exc.strerror or str(exc)))

    for root in found:
        if not root.resolve().is_dir():
            consider(root)
        elif not _inside(root.resolve(), banned):
            for folder, dirs, files in os.walk(root, onerror=on_error):
                dirs.sort()
                here = Path(folder)
                for entry in [*sorted(files), *(d for d in dirs if (here / d).is_symlink())]:
                    consider(here / entry)
                dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return [sources[n] for n in sorted(sources)], skipped
