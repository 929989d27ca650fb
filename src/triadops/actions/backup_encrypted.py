"""Encryption at rest as a wrapper around any backup store: sealed in publish, opened to read.

Every writer hands its plaintext spool to ``publish`` and every reader gets files from
``readable``, so wrapping those two encrypts every kind of backup in every store. The
manifest's sizes and sha256 are of the stored (encrypted) files, so ``verify`` needs no key;
the plaintext's are recorded beside them and checked after decrypting. Decrypted copies go
into a scratch folder removed after the block; the stored files are only ever read.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from triadops.actions.backup_cipher import (
    CHUNK_BYTES,
    decrypt_file,
    encrypt_file,
    key_from_env,
    key_id,
)
from triadops.domain.backups import (
    PARTIAL_SUFFIX,
    BackupEncryption,
    BackupFile,
    BackupManifest,
    Verification,
)
from triadops.domain.errors import ActionFailed
from triadops.settings.backups import BackupSettings

if TYPE_CHECKING:
    from triadops.actions.backup_store import BackupStore


class EncryptedStore:
    """A store whose new backups are encrypted (``backups.encrypt``), and that opens old ones."""

    def __init__(self, inner: BackupStore, settings: BackupSettings) -> None:
        self.inner = inner
        self.settings = settings

    @property
    def where(self) -> str:
        """The inner store's."""
        return self.inner.where

    def location(self, backup_id: str) -> str:
        """The inner store's."""
        return self.inner.location(backup_id)

    async def prepare(self, stored: Collection[str]) -> list[str]:
        """Refuse a missing key before any work when encrypting; then the inner store's."""
        if self.settings.encrypt:
            self._configured_key("cannot encrypt new backups")
        return await self.inner.prepare(stored)

    async def start(self, backup_id: str) -> Path:
        """The inner store's spool folder."""
        return await self.inner.start(backup_id)

    async def discard(self, partial: Path) -> None:
        """The inner store's."""
        await self.inner.discard(partial)

    def release(self, partial: Path) -> None:
        """The inner store's."""
        self.inner.release(partial)

    async def remove(self, backup_id: str) -> None:
        """The inner store's."""
        await self.inner.remove(backup_id)

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Encrypt each file in the spool (replacing its plaintext), then publish that."""
        if not self.settings.encrypt:
            return await self.inner.publish(partial, manifest)
        key = self._configured_key("cannot encrypt new backups")
        files = [await asyncio.to_thread(_seal, partial, f, key) for f in manifest.files]
        sealed = manifest.model_copy(
            update={
                "files": files,
                "size_bytes": sum(f.size_bytes for f in files),
                "encryption": BackupEncryption(key_id=key_id(key), chunk_bytes=CHUNK_BYTES),
            }
        )
        return await self.inner.publish(partial, sealed)

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """The inner store's files, decrypted into a scratch folder when encrypted."""
        if manifest.encryption is None:
            return self.inner.readable(manifest)
        return self._opened(manifest, manifest.encryption)

    @asynccontextmanager
    async def _opened(
        self, manifest: BackupManifest, encryption: BackupEncryption
    ) -> AsyncIterator[Path]:
        key = self._key_for(manifest, encryption)
        async with self.inner.readable(manifest) as folder:
            scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="triad-decrypt-"))
            try:
                for f in manifest.files:
                    await asyncio.to_thread(_open, folder, scratch, f, key, manifest.id)
                yield scratch
            finally:
                await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def verify(
        self,
        manifest: BackupManifest,
        *,
        hashes: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Verification:
        """The inner store's check of the stored files (no key needed).

        A configured key that is not the backup's is refused first: such a backup verifies
        but could not be restored, which is what verifying is for.
        """
        if manifest.encryption is not None:
            key = key_from_env(self.settings.key_env)
            if key is not None:
                self._key_for(manifest, manifest.encryption)
        return await self.inner.verify(manifest, hashes=hashes, on_bytes=on_bytes)

    def _configured_key(self, why: str) -> bytes:
        key = key_from_env(self.settings.key_env)
        if key is None:
            raise ActionFailed(
                f"backups.encrypt is on but {self.settings.key_env} is not set: {why} "
                "(set it to 32 random bytes in base64)"
            )
        return key

    def _key_for(self, manifest: BackupManifest, encryption: BackupEncryption) -> bytes:
        """The configured key if it is the one `manifest` was encrypted with, else refuse."""
        key = key_from_env(self.settings.key_env)
        if key is None:
            raise ActionFailed(
                f"backup {manifest.id} is encrypted (key id {encryption.key_id}) and "
                f"{self.settings.key_env} is not set: set it to that key to read it"
            )
        if key_id(key) != encryption.key_id:
            raise ActionFailed(
                f"backup {manifest.id} was encrypted with key id {encryption.key_id}, the "
                f"configured key ({self.settings.key_env}) is {key_id(key)}"
            )
        return key


def _seal(partial: Path, file: BackupFile, key: bytes) -> BackupFile:
    """Encrypt one spooled file in place (blocking); its entry as stored."""
    plain = partial / file.name
    sealing = plain.with_name(plain.name + PARTIAL_SUFFIX)
    try:
        sealed = encrypt_file(plain, sealing, key)
        if sealed.plain_sha256 != file.sha256:
            raise ActionFailed(f"{file.name} changed after it was written: not encrypted")
        os.replace(sealing, plain)
    except OSError as exc:
        raise ActionFailed(f"backup file {plain}: {exc.strerror or exc}") from None
    finally:
        sealing.unlink(missing_ok=True)
    return BackupFile(
        name=file.name,
        size_bytes=sealed.size,
        sha256=sealed.sha256,
        plain_size_bytes=sealed.plain_size,
        plain_sha256=sealed.plain_sha256,
    )


def _open(folder: Path, scratch: Path, file: BackupFile, key: bytes, backup_id: str) -> None:
    """Decrypt one file into the scratch folder (blocking); refuse one that is not as sealed."""
    try:
        size, sha = decrypt_file(folder / file.name, scratch / file.name, key, name=file.name)
    except FileNotFoundError:
        raise ActionFailed(
            f"backup {backup_id} failed verification: {file.name}: missing"
        ) from None
    except ActionFailed as exc:
        raise ActionFailed(f"backup {backup_id} failed verification: {exc.message}") from None
    if (size, sha) != (file.plain_size_bytes, file.plain_sha256):
        raise ActionFailed(
            f"backup {backup_id} failed verification: {file.name}: decrypted to {size} bytes, "
            f"sha256 {sha}; the manifest says {file.plain_size_bytes} bytes, "
            f"sha256 {file.plain_sha256}"
        )
