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
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

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
COPY_CHUNK = 8 * CHUNK
"""Bytes per kernel copy: the hash following a copy is told of each."""
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP}


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


class FollowedCopy:
    """A file copied by the kernel in chunks, and hashed by a reader following the copy.

    ``copy`` and ``sha256`` each block: run them in two threads at once. The hash reads the
    copy's own bytes as each chunk lands, so what is hashed is what was restored, and it
    overlaps the copy rather than waiting for it (the copy never passes through Python).
    """

    def __init__(self, source: Path, dest: Path) -> None:
        self.source = source
        self.dest = dest
        self._copied = 0
        self._ended = False
        """The copy has stopped, done or failed: the hash stops where it got to."""
        self._moved = threading.Condition()

    def copy(self) -> None:
        """Copy `source` to `dest`; the hash is told each chunk, and the end however it comes."""
        try:
            with self.source.open("rb") as src, self.dest.open("wb") as dst:
                size = os.fstat(src.fileno()).st_size
                copied = 0
                while copied < size and (n := _copy_chunk(src, dst, copied, size - copied)):
                    copied += n
                    with self._moved:
                        self._copied = copied
                        self._moved.notify_all()
        finally:
            with self._moved:
                self._ended = True
                self._moved.notify_all()

    def sha256(self, on_bytes: Callable[[int], None]) -> str:
        """The sha256 of what the copy wrote, read from `dest` as it lands."""
        digest = hashlib.sha256()
        if self._wait(0) == 0:
            return digest.hexdigest()  # nothing copied: an empty file, or a failed copy
        hashed = 0
        with self.dest.open("rb", buffering=0) as f:
            while (copied := self._wait(hashed)) > hashed:
                while hashed < copied:
                    chunk = f.read(min(CHUNK, copied - hashed))
                    if not chunk:
                        raise OSError(f"{self.dest} ended at {hashed} bytes while being copied")
                    digest.update(chunk)
                    hashed += len(chunk)
                    on_bytes(len(chunk))
        return digest.hexdigest()

    def _wait(self, hashed: int) -> int:
        """The bytes copied, once there are more than `hashed` or the copy has stopped."""
        with self._moved:
            self._moved.wait_for(lambda: self._copied > hashed or self._ended)
            return self._copied


def _copy_chunk(src: BinaryIO, dst: BinaryIO, offset: int, left: int) -> int:
    """Copy up to COPY_CHUNK bytes of `src` from `offset` to the end of `dst`; the bytes copied.

    ``sendfile`` keeps the bytes in the kernel (as ``shutil.copyfile`` does); where a system
    has none for files, a read and a write.
    """
    count = min(COPY_CHUNK, left)
    try:
        return os.sendfile(dst.fileno(), src.fileno(), offset, count)
    except (AttributeError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno not in _NO_SENDFILE:
            raise
    chunk = os.pread(src.fileno(), count, offset)
    dst.write(chunk)
    dst.flush()
    return len(chunk)


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
