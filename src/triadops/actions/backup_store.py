"""Where backups are kept, behind one small interface every backup path goes through.

A backup is always written first into a local spool folder, ``<backups>/<id>.partial``
(``start``), then ``publish``ed: the manifest written, the folder made visible as complete,
and only then may its row be stored. Readers never open a backup's files directly: they ask
the store for a local folder holding them (``readable``), which for the local folder is the
backup's own folder and for a remote store a scratch copy removed after.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Protocol

from triadops.actions.backup_files import (
    backup_folder,
    complete,
    partial_folder,
    prepare_folder,
    release,
    verify_folder,
)
from triadops.domain.backups import BackupManifest, Verification
from triadops.settings import Settings


class BackupStore(Protocol):
    """Where complete backups live, and how their files are written, read and removed."""

    @property
    def where(self) -> str:
        """Where backups go, as people read it (a folder, a bucket and prefix)."""
        ...

    def location(self, backup_id: str) -> str:
        """Where the backup `backup_id`'s files are, as people read it."""
        ...

    async def prepare(self) -> list[str]:
        """Make the spool folder ready; remove what killed backups left; name what went.

        Refuses, naming the folder, one that cannot be written (``ActionFailed``).
        """
        ...

    async def start(self, backup_id: str) -> Path:
        """A fresh local folder to write the backup's files into before it is complete."""
        ...

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Make the backup in `partial` complete and visible; return its manifest as stored.

        The returned manifest is the one to store: a store may change how files are kept
        (encrypted, say) and so their sizes and checksums.
        """
        ...

    async def discard(self, partial: Path) -> None:
        """Remove a backup that will not be completed, whatever it holds."""
        ...

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """A local folder holding the backup's files as the manifest lists them, for a block."""
        ...

    async def verify(self, manifest: BackupManifest, *, hashes: bool = True) -> Verification:
        """Check each file is there, of its size, and (with `hashes`) of its sha256."""
        ...

    async def remove(self, backup_id: str) -> None:
        """Delete the backup's files; nothing when they are already gone."""
        ...


class LocalStore:
    """Backups in a local folder, one subfolder each (``$TRIAD_HOME/backups`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def where(self) -> str:
        """The folder."""
        return str(self.root)

    def location(self, backup_id: str) -> str:
        """The backup's folder."""
        return str(backup_folder(self.root, backup_id))

    async def prepare(self) -> list[str]:
        """Create the folder if needed and remove ``.partial`` leftovers."""
        return await asyncio.to_thread(prepare_folder, self.root)

    async def start(self, backup_id: str) -> Path:
        """``<root>/<id>.partial``."""
        return await asyncio.to_thread(partial_folder, self.root, backup_id)

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Write the manifest, sync, rename into place."""
        await asyncio.to_thread(complete, partial, manifest)
        return manifest

    async def discard(self, partial: Path) -> None:
        """Remove the partial folder."""
        release(partial)
        await asyncio.to_thread(shutil.rmtree, partial, True)

    @asynccontextmanager
    async def _readable(self, manifest: BackupManifest) -> AsyncIterator[Path]:
        yield backup_folder(self.root, manifest.id)

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """The backup's own folder (nothing to clean up)."""
        return self._readable(manifest)

    async def verify(self, manifest: BackupManifest, *, hashes: bool = True) -> Verification:
        """Check the folder's files against the manifest."""
        return await verify_folder(backup_folder(self.root, manifest.id), manifest, hashes=hashes)

    async def remove(self, backup_id: str) -> None:
        """Delete the backup's folder."""
        await asyncio.to_thread(shutil.rmtree, backup_folder(self.root, backup_id), True)


def backup_store(settings: Settings) -> BackupStore:
    """The store the settings name (the local backups folder today)."""
    return LocalStore(settings.backup_folder)
