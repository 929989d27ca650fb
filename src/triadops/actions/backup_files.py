"""A backup's folder: written under a temporary name, renamed when complete, checked by sha256.

Each backup is one folder, ``<backups>/<id>/``, holding its files and ``manifest.json``. It
is written as ``<id>.partial`` and renamed only once every file and the manifest are on
disk, so a folder without the suffix is complete; a ``.partial`` one whose writer is gone
is what a killed backup left, removed when the next backup starts (``backup_spool``).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import queue
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson

from triadops.domain.backups import (
    MANIFEST_NAME,
    BackupFile,
    BackupManifest,
    FileProblem,
    Verification,
)
from triadops.domain.errors import ActionFailed

CHUNK = 1024 * 1024


NO_SPACE = "no space left on device"


def out_of_space(exc: BaseException) -> bool:
    """True when `exc` says the disk being written is full (SQLite's, the OS's, a tool's)."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return isinstance(exc, ActionFailed) and NO_SPACE in str(exc).lower()


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    """The sha256 of the file at `path`, read in chunks (blocking: call it in a thread).

    `on_bytes` is told each chunk's length as it is hashed (a progress meter's ``add``).
    """
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest()


async def describe(
    folder: Path, names: list[str], on_bytes: Callable[[int], None] | None = None
) -> list[BackupFile]:
    """Each named file of `folder` with its size and sha256."""
    files = []
    for name in names:
        path = folder / name
        files.append(
            BackupFile(
                name=name,
                size_bytes=path.stat().st_size,
                sha256=await asyncio.to_thread(sha256_file, path, on_bytes),
            )
        )
    return files


def fsync_path(path: Path) -> None:
    """Flush the file or folder at `path` to disk (blocking: call it in a thread)."""
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def complete(partial: Path, manifest: BackupManifest) -> Path:
    """Write the manifest, sync, and rename the folder into place; return where it is.

    Blocking: call it in a thread. Only after the rename may the backup be stored as complete.
    """
    data = orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
    try:
        (partial / MANIFEST_NAME).write_bytes(data)
        for entry in partial.iterdir():
            _fsync(entry)
        final = partial.with_name(manifest.id)
        partial.rename(final)
        _fsync(final.parent)
    except OSError as exc:
        raise ActionFailed(f"backup folder {partial}: {exc.strerror or exc}") from None
    return final


def backup_folder(root: Path, backup_id: str) -> Path:
    """Where a complete backup's files are."""
    return root / backup_id


def copy_feeding(source: Path, dest: Path, chunks: queue.Queue[bytes | None]) -> None:
    """Copy `source` to `dest`, handing each chunk to `chunks` for a hasher; then None.

    Blocking: call it in a thread, with ``sha256_fed`` in another, so the file is read once
    and hashed while it is written. None is handed on however the copy ends.
    """
    try:
        with source.open("rb") as src, dest.open("wb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                chunks.put(chunk)
    finally:
        chunks.put(None)


def sha256_fed(chunks: queue.Queue[bytes | None], on_bytes: Callable[[int], None]) -> str:
    """The sha256 of the chunks handed to `chunks` until None (blocking: call it in a thread)."""
    digest = hashlib.sha256()
    while (chunk := chunks.get()) is not None:
        digest.update(chunk)
        on_bytes(len(chunk))
    return digest.hexdigest()


def sha_problem(name: str, found: str, expected: str) -> FileProblem:
    """A file whose sha256 is not the manifest's."""
    return FileProblem(name=name, problem=f"sha256 {found}, the manifest says {expected}")


def _check(
    folder: Path,
    manifest: BackupManifest,
    hashes: bool,
    on_bytes: Callable[[int], None] | None = None,
) -> Verification:
    problems: list[FileProblem] = []
    checked = 0
    bytes_checked = 0
    on_disk = folder / MANIFEST_NAME
    if not on_disk.is_file():
        problems.append(FileProblem(name=MANIFEST_NAME, problem="missing"))
    else:
        try:
            written = BackupManifest.model_validate_json(on_disk.read_bytes())
        except ValueError:
            written = None
        if written is None or written.checksum() != manifest.checksum():
            problems.append(
                FileProblem(name=MANIFEST_NAME, problem="differs from the stored manifest")
            )
    for f in manifest.files:
        path = folder / f.name
        if not path.is_file():
            problems.append(FileProblem(name=f.name, problem="missing"))
            continue
        size = path.stat().st_size
        if size != f.size_bytes:
            problems.append(
                FileProblem(name=f.name, problem=f"{size} bytes, the manifest says {f.size_bytes}")
            )
            continue
        if not hashes:
            continue
        found = sha256_file(path, on_bytes)
        checked += 1
        bytes_checked += size
        if found != f.sha256:
            problems.append(sha_problem(f.name, found, f.sha256))
    return Verification(
        backup_id=manifest.id,
        ok=not problems,
        files_checked=checked,
        bytes_checked=bytes_checked,
        problems=problems,
    )


async def verify_folder(
    folder: Path,
    manifest: BackupManifest,
    *,
    hashes: bool = True,
    on_bytes: Callable[[int], None] | None = None,
) -> Verification:
    """Check every file of `folder` against `manifest`: present, its size, its sha256.

    Without `hashes`, only presence and size (a caller that hashes while it reads them).
    `on_bytes` is told the bytes hashed as they are (a progress meter's ``add``).
    """
    return await asyncio.to_thread(_check, folder, manifest, hashes, on_bytes)
