"""``FollowedCopy``: a kernel copy hashed by a reader following it, on real files."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

from triadops.actions.backup_files import COPY_CHUNK, FollowedCopy


def copied(source: Path, dest: Path) -> tuple[str, int]:
    """Copy with the hash in a second thread, as the recovery test does; its sha256, bytes told."""
    copying = FollowedCopy(source, dest)
    told: list[int] = []
    found: list[str] = []
    hasher = threading.Thread(target=lambda: found.append(copying.sha256(told.append)))
    hasher.start()
    try:
        copying.copy()
    finally:
        hasher.join()  # the copy's end, however it came, ends the hash
    return found[0], sum(told)


@pytest.mark.parametrize("size", [0, 1, COPY_CHUNK - 1, COPY_CHUNK, 2 * COPY_CHUNK + 5])
def test_the_copy_is_the_file_and_the_hash_is_the_copys(tmp_path: Path, size: int) -> None:
    source, dest = tmp_path / "backup.sqlite", tmp_path / "restored.sqlite"
    data = os.urandom(size)
    source.write_bytes(data)
    found, told = copied(source, dest)
    assert dest.read_bytes() == data
    assert found == hashlib.sha256(data).hexdigest()
    assert told == size


def test_without_sendfile_the_copy_reads_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sendfile(*args: object) -> int:
        raise OSError(errno.ENOSYS, "sendfile not implemented")

    monkeypatch.setattr(os, "sendfile", no_sendfile)
    source, dest = tmp_path / "backup.sqlite", tmp_path / "restored.sqlite"
    data = os.urandom(COPY_CHUNK + 3)
    source.write_bytes(data)
    found, _ = copied(source, dest)
    assert dest.read_bytes() == data and found == hashlib.sha256(data).hexdigest()


def test_a_failed_copy_raises_and_the_hash_stops(tmp_path: Path) -> None:
    copying = FollowedCopy(tmp_path / "gone.sqlite", tmp_path / "restored.sqlite")
    with pytest.raises(FileNotFoundError):
        copying.copy()
    assert copying.sha256(lambda n: None) == hashlib.sha256().hexdigest()  # returns, never waits
