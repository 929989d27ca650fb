"""One tar archive compressed with zstandard, written and read as a stream, hashed per member.

Never a whole archive nor a whole file in memory: files are read, hashed and compressed in
chunks (blocking: call these in a thread). Each member's size, sha256 and mode go in the
manifest, so a recovery test can compare what it extracts. A file is opened without
following a link (the links to follow were resolved when the paths were collected), and a
FIFO or device is never opened for reading.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import zstandard

from triadops.actions.backup_paths import Source
from triadops.domain.backups import ArchiveMember, Skipped
from triadops.domain.errors import ActionFailed

CHUNK = 1024 * 1024
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class _HashedReader:
    """Hands tarfile exactly `size` bytes of a file, hashing them; a shrunk file fails."""

    def __init__(self, f: BinaryIO, size: int, name: str) -> None:
        self.f, self.left, self.name = f, size, name
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        want = self.left if n < 0 else min(n, self.left)
        data = self.f.read(want) if want else b""
        if len(data) < want:
            raise ActionFailed(f"{self.name}: it shrank while being archived; run it again")
        self.left -= len(data)
        self.digest.update(data)
        return data


@contextmanager
def _writer(dest: Path, level: int) -> Iterator[tarfile.TarFile]:
    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
    with (
        dest.open("wb") as raw,
        compressor.stream_writer(raw, closefd=False) as zstd,
        tarfile.open(fileobj=zstd, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        yield tar


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime)
    return info


def archive_files(
    dest: Path, sources: list[Source], *, level: int, fail_unreadable: bool
) -> tuple[list[ArchiveMember], list[Skipped]]:
    """Write `sources` into the archive `dest`; return its members and the files left out.

    A file that cannot be opened is left out with its reason, or with `fail_unreadable`
    fails the backup naming it.
    """
    members: list[ArchiveMember] = []
    skipped: list[Skipped] = []
    with _writer(dest, level) as tar:
        for source in sources:
            try:
                fd = os.open(source.read, OPEN_FLAGS)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                if fail_unreadable:
                    raise ActionFailed(f"{source.path}: cannot be read ({reason})") from None
                skipped.append(Skipped(path=str(source.path), reason=reason))
                continue
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    skipped.append(Skipped(path=str(source.path), reason="not a regular file"))
                    continue
                info = _info(source.name, st)
                reader = _HashedReader(f, info.size, str(source.path))
                tar.addfile(info, reader)
            members.append(
                ArchiveMember(
                    name=source.name,
                    path=str(source.path),
                    size_bytes=info.size,
                    sha256=reader.digest.hexdigest(),
                    mode=info.mode,
                )
            )
    return members, skipped


def archive_exports(
    dest: Path, files: Iterable[tuple[str, Path]], *, level: int
) -> list[ArchiveMember]:
    """Write the named export files into the archive `dest`; return its members."""
    members = []
    with _writer(dest, level) as tar:
        for name, path in files:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                info = _info(name, st)
                info.mode = 0o600
                reader = _HashedReader(f, info.size, name)
                tar.addfile(info, reader)
            members.append(
                ArchiveMember(
                    name=name,
                    path=name,
                    size_bytes=info.size,
                    sha256=reader.digest.hexdigest(),
                    mode=info.mode,
                )
            )
    return members


def extract_archive(
    archive: Path, scratch: Path, on_member: Callable[[tarfile.TarInfo, Path], None]
) -> None:
    """Extract `archive` into `scratch` safely, calling `on_member` after each file.

    tarfile's ``data`` filter refuses absolute names, ``..``, links out of `scratch` and
    device files; a refusal fails naming the member. Read as a stream: members are
    extracted one at a time, in archive order.
    """
    decompressor = zstandard.ZstdDecompressor()
    with (
        archive.open("rb") as raw,
        decompressor.stream_reader(raw) as zstd,
        tarfile.open(fileobj=zstd, mode="r|") as tar,
    ):
        for member in tar:
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:  # the filter would strip a leading /
                raise ActionFailed(
                    f"{archive.name}: member {member.name!r} refused: an absolute name or '..'"
                )
            try:
                tar.extract(member, scratch, filter="data")
            except tarfile.FilterError as exc:
                raise ActionFailed(
                    f"{archive.name}: member {member.name!r} refused: {exc}"
                ) from None
            if member.isfile():
                on_member(member, scratch / member.name)
