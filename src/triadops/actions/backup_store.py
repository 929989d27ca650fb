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
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from triadops.actions.backup_encrypted import EncryptedStore
from triadops.actions.backup_files import backup_folder, complete, verify_folder
from triadops.actions.backup_s3 import S3Store
from triadops.actions.backup_spool import claim, prepare_folder, release
from triadops.domain.backups import LOCAL_STORE, PARTIAL_SUFFIX, BackupManifest, Verification
from triadops.domain.errors import ActionFailed
from triadops.settings import Settings
from triadops.storage.backups import save_backup
from triadops.storage.targets import OWN_DATABASE

if TYPE_CHECKING:
    from triadops.actions.base import ActionContext


class BackupStore(Protocol):
    """Where complete backups live, and how their files are written, read and removed."""

    @property
    def where(self) -> str:
        """Where backups go, as people read it (a folder, a bucket and prefix)."""
        ...

    def location(self, backup_id: str) -> str:
        """Where the backup `backup_id`'s files are, as people read it."""
        ...

    async def prepare(self, stored: Collection[str]) -> list[str]:
        """Make the spool folder ready; remove what killed backups left; name what went.

        `stored` names every backup a row stands for: a complete backup none names is a
        leftover once older than the grace period. Another backup still writing is left
        alone. Refuses, naming the folder, one that cannot be written (``ActionFailed``).
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

    def release(self, partial: Path) -> None:
        """Let go of the writer's lock once the published backup's row is stored (or not)."""
        ...

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """A local folder holding the backup's files as the manifest lists them, for a block."""
        ...

    async def verify(
        self,
        manifest: BackupManifest,
        *,
        hashes: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Verification:
        """Check each file is there, of its size, and (with `hashes`) of its sha256.

        `on_bytes` is told the bytes read as they are (a progress meter's ``add``).
        """
        ...

    async def remove(self, backup_id: str) -> None:
        """Delete the backup's files; nothing when they are already gone."""
        ...


class LocalStore:
    """Backups in a local folder, one subfolder each (``$TRIAD_HOME/backups`` by default)."""

    def __init__(self, root: Path, *, grace_s: float = 3600.0) -> None:
        self.root = root
        self.grace_s = grace_s
        self._locks: dict[Path, int] = {}
        """Partial folder → the descriptor of the lock held while it is written."""

    @property
    def where(self) -> str:
        """The folder."""
        return str(self.root)

    def location(self, backup_id: str) -> str:
        """The backup's folder."""
        return str(backup_folder(self.root, backup_id))

    async def prepare(self, stored: Collection[str]) -> list[str]:
        """Create the folder if needed and remove leftovers (``backup_spool``)."""
        return await asyncio.to_thread(prepare_folder, self.root, stored, grace_s=self.grace_s)

    async def start(self, backup_id: str) -> Path:
        """``<root>/<id>.partial``, locked as being written until published or discarded."""
        folder, fd = await asyncio.to_thread(claim, self.root, backup_id)
        self._locks[folder] = fd
        return folder

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Write the manifest, sync, rename into place; then let the lock go."""
        kept = manifest.model_copy(update={"store": LOCAL_STORE})
        await asyncio.to_thread(complete, partial, kept)
        # The lock stays until `release`: between the rename and the row, the complete
        # folder is this writer's, never a leftover for another backup's `prepare`.
        return kept

    def release(self, partial: Path) -> None:
        """Let go of the writer's lock (after the row is stored)."""
        self._release(partial)

    async def discard(self, partial: Path) -> None:
        """Remove the partial folder, then let its lock go."""
        await asyncio.to_thread(shutil.rmtree, partial, True)
        self._release(partial)

    def _release(self, partial: Path) -> None:
        fd = self._locks.pop(partial, None)
        if fd is not None:
            release(self.root, partial.name.removesuffix(PARTIAL_SUFFIX), fd)

    @asynccontextmanager
    async def _readable(self, manifest: BackupManifest) -> AsyncIterator[Path]:
        yield backup_folder(self.root, manifest.id)

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """The backup's own folder (nothing to clean up)."""
        return self._readable(manifest)

    async def verify(
        self,
        manifest: BackupManifest,
        *,
        hashes: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Verification:
        """Check the folder's files against the manifest."""
        folder = backup_folder(self.root, manifest.id)
        return await verify_folder(folder, manifest, hashes=hashes, on_bytes=on_bytes)

    async def remove(self, backup_id: str) -> None:
        """Delete the backup's folder."""
        await asyncio.to_thread(shutil.rmtree, backup_folder(self.root, backup_id), True)


class KeptStores:
    """New backups go to the configured store; each is read from where its manifest says."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local = LocalStore(settings.backup_folder, grace_s=settings.backups.leftover_grace_s)
        s3 = settings.backups.s3
        self.writer: BackupStore = (
            self.local if s3 is None else S3Store(settings.backup_folder, s3, settings.backups)
        )

    @property
    def where(self) -> str:
        """Where new backups go."""
        return self.writer.where

    def location(self, backup_id: str) -> str:
        """Where a backup in the configured store is."""
        return self.writer.location(backup_id)

    async def prepare(self, stored: Collection[str]) -> list[str]:
        """The configured store's."""
        return await self.writer.prepare(stored)

    async def start(self, backup_id: str) -> Path:
        """The configured store's spool folder."""
        return await self.writer.start(backup_id)

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Into the configured store."""
        return await self.writer.publish(partial, manifest)

    async def discard(self, partial: Path) -> None:
        """The configured store's."""
        await self.writer.discard(partial)

    def release(self, partial: Path) -> None:
        """The configured store's."""
        self.writer.release(partial)

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """From where the manifest says the backup is kept."""
        return self.kept(manifest).readable(manifest)

    async def verify(
        self,
        manifest: BackupManifest,
        *,
        hashes: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Verification:
        """Where the manifest says the backup is kept."""
        return await self.kept(manifest).verify(manifest, hashes=hashes, on_bytes=on_bytes)

    async def remove(self, backup_id: str) -> None:
        """From the configured store, and the local folder (where older backups may be)."""
        await self.writer.remove(backup_id)
        if self.writer is not self.local:
            await self.local.remove(backup_id)

    def kept(self, manifest: BackupManifest) -> BackupStore:
        """The store holding `manifest`'s backup (no ``store``: the local folder)."""
        store = manifest.store or LOCAL_STORE
        if store == LOCAL_STORE:
            return self.local
        if store == self.writer.where:
            return self.writer
        s3 = self.settings.backups.s3
        if store.startswith("s3://") and s3 is not None:
            bucket, _, prefix = store.removeprefix("s3://").partition("/")
            elsewhere = s3.model_copy(update={"bucket": bucket, "prefix": prefix})
            return S3Store(self.settings.backup_folder, elsewhere, self.settings.backups)
        raise ActionFailed(
            f"backup {manifest.id} is kept in {store}, and backups.s3 is not configured to read it"
        )


def backup_store(settings: Settings) -> BackupStore:
    """The store the settings name, encrypting new backups when asked."""
    return EncryptedStore(KeptStores(settings), settings.backups)


async def stored(
    ctx: ActionContext, store: BackupStore, partial: Path, manifest: BackupManifest
) -> None:
    """Store a published backup's row, then let go of its writer's lock, whatever happens.

    The lock is held until the row is there, so no other backup's ``prepare`` takes the
    complete folder for a leftover in between.
    """
    try:
        await save_backup(
            ctx.databases.get(OWN_DATABASE),
            manifest,
            operation_id=ctx.operation_id,
            step_key=ctx.idempotency_key,
        )
    finally:
        store.release(partial)
