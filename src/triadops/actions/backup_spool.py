"""The backups folder's housekeeping: what killed backups left, removed without harming live ones.

A backup is written into ``<id>.partial`` while its writer holds an exclusive ``flock`` on
``.<id>.lock`` beside it; the lock goes once the folder is renamed complete (or discarded),
and with the process when it dies. So the next backup's ``prepare`` tells a partial folder
whose writer is gone (no lock file, or one it can lock) from another backup still writing
(locked: left alone), and two backups at once never clobber each other.

A complete folder that no stored backup names is what a backup killed between its rename and
its row insert left: it never counted as a backup, and is removed once older than the grace
period (``backups.leftover_grace_s``), so a concurrent backup that is just between the two is
never touched. The same grace keeps a lock file whose writer is between creating and locking it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Collection
from pathlib import Path

from triadops.domain.backups import MANIFEST_NAME, PARTIAL_SUFFIX
from triadops.domain.clock import unix_now
from triadops.domain.errors import ActionFailed

LOCK_SUFFIX = ".lock"


def lock_path(root: Path, backup_id: str) -> Path:
    """The lock file a backup's writer holds while its partial folder exists."""
    return root / f".{backup_id}{LOCK_SUFFIX}"


def claim(root: Path, backup_id: str) -> tuple[Path, int]:
    """Create and lock the backup's partial folder; return it and the lock's descriptor.

    Blocking: call it in a thread. The lock is taken before the folder exists, so a folder
    seen by ``prepare_folder`` always has its lock file while its writer lives.
    """
    folder = root / f"{backup_id}{PARTIAL_SUFFIX}"
    try:
        fd = os.open(lock_path(root, backup_id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ActionFailed(f"backup folder {root}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder.mkdir()
    except OSError as exc:
        release(root, backup_id, fd)
        raise ActionFailed(f"backup folder {folder}: {exc.strerror or exc}") from None
    return folder, fd


def release(root: Path, backup_id: str, fd: int) -> None:
    """Remove the backup's lock file and let the lock go (after its rename or discard)."""
    lock_path(root, backup_id).unlink(missing_ok=True)
    os.close(fd)


def _writer_alive(lock: Path) -> bool:
    """True when another open descriptor holds `lock` (a backup still writing)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also lets go of the lock when it was taken
    return False


def _age_s(path: Path, now: float) -> float:
    """Seconds since `path`'s contents last changed.

    A backup writes its manifest into its folder just before the rename, so a folder's
    mtime is no older than its completion.
    """
    return now - path.stat().st_mtime


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def clear_leftovers(root: Path, stored: Collection[str], *, grace_s: float) -> list[str]:
    """Remove what killed backups left in `root`; name each entry removed.

    `stored` names every backup a row stands for: a complete folder not among them and
    older than `grace_s` is removed. Blocking: call it in a thread.
    """
    now = unix_now()  # against files' mtimes: the clock of a test that ages them moves too
    removed = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        try:
            if name.endswith(PARTIAL_SUFFIX):
                if _writer_alive(lock_path(root, name.removesuffix(PARTIAL_SUFFIX))):
                    continue
                _remove(entry)
                lock_path(root, name.removesuffix(PARTIAL_SUFFIX)).unlink(missing_ok=True)
            elif name.startswith(".") and name.endswith(LOCK_SUFFIX):
                owner = root / f"{name[1 : -len(LOCK_SUFFIX)]}{PARTIAL_SUFFIX}"
                if owner.exists() or _age_s(entry, now) < grace_s or _writer_alive(entry):
                    continue
                entry.unlink(missing_ok=True)
            elif (
                name not in stored
                and entry.is_dir()
                and not entry.is_symlink()
                and (entry / MANIFEST_NAME).is_file()
                and _age_s(entry, now) >= grace_s
                # Its writer still holds its lock until the row is stored: not a leftover.
                and not _writer_alive(lock_path(root, name))
            ):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                continue
        except FileNotFoundError:
            continue  # gone meanwhile: renamed by its writer, or removed by another prepare
        removed.append(name)
    return removed


def prepare_folder(root: Path, stored: Collection[str], *, grace_s: float) -> list[str]:
    """Create the backups folder if needed; remove what killed backups left; name it.

    Refuses, naming the folder, one that cannot be written.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ActionFailed(f"backup folder {root}: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ActionFailed(f"backup folder {root} is not writable")
    return clear_leftovers(root, stored, grace_s=grace_s)
