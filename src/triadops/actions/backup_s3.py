"""Backups kept in an S3-compatible bucket, through obstore: streamed, multipart, bounded.

A backup is written into the local spool as ever (``<backups>/<id>.partial``); ``publish``
uploads each file, then the manifest LAST: the manifest object is the completion marker, so
objects under ``<prefix>/<id>/`` without one are not a backup. Then the spool goes. Readers
download into a scratch folder removed after the block; ``verify`` streams each object
through sha256. Every request has a timeout; credentials come from environment variables
the settings name, and reach neither a log nor an error.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import obstore
import orjson
from obstore.store import S3Store as ObjectStore

from triadops.actions.backup_files import sha_problem
from triadops.actions.backup_spool import claim, prepare_folder, release
from triadops.domain.backups import (
    MANIFEST_NAME,
    PARTIAL_SUFFIX,
    BackupManifest,
    FileProblem,
    Verification,
)
from triadops.domain.errors import ActionFailed, TriadError
from triadops.settings.backups import BackupSettings, S3StoreSettings

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

T = TypeVar("T")
READ_CHUNK = 1024 * 1024
"""Bytes per piece of a streamed download."""
UPLOADS_AT_ONCE = 4
"""Parts of one multipart upload in flight: at most this many parts are held in memory."""


def described(exc: BaseException, *, hiding: tuple[str, ...] = ()) -> str:
    """One line for a failed request: no response body, no credential, S3's error code kept.

    S3's error bodies may echo the access key id or the string that was signed; only the
    ``<Code>`` is kept, and the values in `hiding` are masked wherever they appear.
    """
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    body = line.find("<")
    if body >= 0:
        code = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", text)
        line = line[:body].rstrip(" :") + (f" ({code.group(1)})" if code else "")
    for secret in hiding:
        if secret:
            line = line.replace(secret, "***")
    return line


class S3Store:
    """Backups under ``s3://bucket/prefix/<id>/``, spooled in the local backups folder."""

    def __init__(self, spool: Path, s3: S3StoreSettings, backups: BackupSettings) -> None:
        self.spool = spool
        self.s3 = s3
        self.backups = backups
        self._client: ObjectStore | None = None
        self._locks: dict[Path, int] = {}
        """Each spool folder being written, with the descriptor holding its writer's lock."""

    @property
    def where(self) -> str:
        """``s3://bucket/prefix``."""
        return self.s3.uri

    def location(self, backup_id: str) -> str:
        """``s3://bucket/prefix/<id>``."""
        return f"{self.s3.uri}/{backup_id}"

    def _key(self, backup_id: str, name: str) -> str:
        return f"{backup_id}/{name}"

    def client(self) -> ObjectStore:
        """The obstore client, built once; refuses missing credentials naming their variables."""
        if self._client is not None:
            return self._client
        access = os.environ.get(self.s3.access_key_env)
        secret = os.environ.get(self.s3.secret_key_env)
        if not access or not secret:
            raise ActionFailed(
                f"backups.s3: no credentials for {self.s3.uri}: set {self.s3.access_key_env} "
                f"and {self.s3.secret_key_env}"
            )
        options: ClientConfig = {
            "timeout": timedelta(seconds=self.backups.timeout_s),
            "connect_timeout": timedelta(seconds=self.s3.connect_timeout_s),
        }
        if self.s3.endpoint_url is not None and self.s3.endpoint_url.startswith("http://"):
            options["allow_http"] = True
        retry: RetryConfig = {
            "max_retries": self.s3.retries,
            "retry_timeout": timedelta(seconds=self.s3.timeout_s),
        }
        config: S3Config = {
            "region": self.s3.region,
            "access_key_id": access,
            "secret_access_key": secret,
        }
        token = os.environ.get(self.s3.session_token_env)
        if token:
            config["session_token"] = token
        if self.s3.endpoint_url is not None:
            config["endpoint"] = self.s3.endpoint_url
        self._client = ObjectStore(
            self.s3.bucket,
            prefix=self.s3.prefix.strip("/") or None,
            config=config,
            client_options=options,
            retry_config=retry,
        )
        return self._client

    async def _bounded(self, call: Awaitable[T], what: str, timeout_s: float | None = None) -> T:
        """Await one request within its timeout; any failure as one line naming the store."""
        limit = self.s3.timeout_s if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(call, timeout=limit)
        except TimeoutError:
            raise ActionFailed(f"{self.s3.uri}: {what} timed out after {limit} s") from None
        except (FileNotFoundError, TriadError):
            raise
        except Exception as exc:
            hiding = tuple(
                os.environ.get(name, "")
                for name in (self.s3.access_key_env, self.s3.secret_key_env)
            )
            problem = described(exc, hiding=hiding)
            raise ActionFailed(f"{self.s3.uri}: {what} failed: {problem}") from None

    async def prepare(self, stored: Collection[str]) -> list[str]:
        """Make the spool ready, then check the bucket answers before any backup work."""
        grace_s = self.backups.leftover_grace_s
        removed = await asyncio.to_thread(prepare_folder, self.spool, stored, grace_s=grace_s)
        await self._bounded(self._first_page(), "listing the bucket")
        return removed

    async def _first_page(self) -> None:
        """One list request: the bucket exists, answers, and takes these credentials."""
        async for _ in obstore.list(self.client(), chunk_size=1):
            break

    async def start(self, backup_id: str) -> Path:
        """``<spool>/<id>.partial``, its writer's lock held until it is uploaded or discarded."""
        folder, fd = await asyncio.to_thread(claim, self.spool, backup_id)
        self._locks[folder] = fd
        return folder

    def _release(self, partial: Path) -> None:
        fd = self._locks.pop(partial, None)
        if fd is not None:
            release(self.spool, partial.name.removesuffix(PARTIAL_SUFFIX), fd)

    def release(self, partial: Path) -> None:
        """Let go of the spool's lock (already gone once uploaded: nothing then)."""
        self._release(partial)

    async def discard(self, partial: Path) -> None:
        """Remove the spool folder, then let go of its lock."""
        await asyncio.to_thread(shutil.rmtree, partial, True)
        self._release(partial)

    async def publish(self, partial: Path, manifest: BackupManifest) -> BackupManifest:
        """Upload every file, then the manifest; remove the spool; answer the manifest kept.

        A failure deletes what was uploaded (shielded, within the timeout) and names the file.
        """
        kept = manifest.model_copy(update={"store": self.s3.uri})
        client = self.client()
        sent: list[str] = []
        try:
            for f in kept.files:
                key = self._key(kept.id, f.name)
                sent.append(key)
                await self._bounded(
                    obstore.put_async(
                        client,
                        key,
                        partial / f.name,
                        chunk_size=self.s3.part_bytes,
                        max_concurrency=UPLOADS_AT_ONCE,
                    ),
                    f"uploading {f.name}",
                    self.backups.timeout_s,
                )
            data = orjson.dumps(kept.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
            key = self._key(kept.id, MANIFEST_NAME)
            sent.append(key)
            await self._bounded(obstore.put_async(client, key, data), f"uploading {MANIFEST_NAME}")
        except BaseException:
            await asyncio.shield(self._delete(sent))
            raise
        await asyncio.to_thread(shutil.rmtree, partial, True)
        self._release(partial)  # uploaded: the spool is no backup in the writing any more
        return kept

    async def _delete(self, keys: list[str]) -> None:
        """Delete `keys`, best effort: what stays without a manifest is not a backup."""
        if keys:
            with suppress(ActionFailed, FileNotFoundError):
                await self._bounded(obstore.delete_async(self.client(), keys), "deleting")

    def readable(self, manifest: BackupManifest) -> AbstractAsyncContextManager[Path]:
        """The backup's files downloaded into a scratch folder, removed after the block."""
        return self._downloaded(manifest)

    @asynccontextmanager
    async def _downloaded(self, manifest: BackupManifest) -> AsyncIterator[Path]:
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="triad-s3-"))
        try:
            for f in manifest.files:
                await self._bounded(
                    self._download(manifest, f.name, scratch / f.name),
                    f"downloading {f.name}",
                    self.backups.timeout_s,
                )
            yield scratch
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _download(self, manifest: BackupManifest, name: str, dest: Path) -> None:
        try:
            got = await obstore.get_async(self.client(), self._key(manifest.id, name))
        except FileNotFoundError:
            raise ActionFailed(
                f"backup {manifest.id} failed verification: {name}: missing"
            ) from None
        with dest.open("wb") as out:
            async for piece in got.stream(min_chunk_size=READ_CHUNK):
                await asyncio.to_thread(out.write, piece)

    async def _hashed(self, manifest: BackupManifest, name: str) -> tuple[int, str] | None:
        """Stream one object through sha256: its size and digest, None when it is missing."""
        try:
            got = await obstore.get_async(self.client(), self._key(manifest.id, name))
        except FileNotFoundError:
            return None
        digest = hashlib.sha256()
        size = 0
        async for piece in got.stream(min_chunk_size=READ_CHUNK):
            await asyncio.to_thread(digest.update, piece)
            size += len(piece)
        return size, digest.hexdigest()

    async def _size(self, manifest: BackupManifest, name: str) -> int | None:
        try:
            meta = await obstore.head_async(self.client(), self._key(manifest.id, name))
        except FileNotFoundError:
            return None
        return meta["size"]

    async def _manifest_problem(self, manifest: BackupManifest) -> FileProblem | None:
        try:
            got = await obstore.get_async(self.client(), self._key(manifest.id, MANIFEST_NAME))
            data = await got.bytes_async()
        except FileNotFoundError:
            return FileProblem(name=MANIFEST_NAME, problem="missing")
        try:
            written: BackupManifest | None = BackupManifest.model_validate_json(bytes(data))
        except ValueError:
            written = None
        if written is None or written.checksum() != manifest.checksum():
            return FileProblem(name=MANIFEST_NAME, problem="differs from the stored manifest")
        return None

    async def verify(
        self,
        manifest: BackupManifest,
        *,
        hashes: bool = True,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Verification:
        """Check the manifest object and each file's object: present, size, sha256.

        `on_bytes` is told each file's bytes once it is hashed.
        """
        problems: list[FileProblem] = []
        checked = bytes_checked = 0
        found = await self._bounded(self._manifest_problem(manifest), f"reading {MANIFEST_NAME}")
        if found is not None:
            problems.append(found)
        for f in manifest.files:
            if hashes:
                hashed = await self._bounded(
                    self._hashed(manifest, f.name), f"reading {f.name}", self.backups.timeout_s
                )
                size, sha = hashed if hashed is not None else (None, None)
            else:
                size = await self._bounded(self._size(manifest, f.name), f"reading {f.name}")
                sha = None
            if size is None:
                problems.append(FileProblem(name=f.name, problem="missing"))
            elif size != f.size_bytes:
                problems.append(
                    FileProblem(
                        name=f.name, problem=f"{size} bytes, the manifest says {f.size_bytes}"
                    )
                )
            elif sha is not None:
                checked += 1
                bytes_checked += size
                if on_bytes is not None:
                    on_bytes(size)
                if sha != f.sha256:
                    problems.append(sha_problem(f.name, sha, f.sha256))
        return Verification(
            backup_id=manifest.id,
            ok=not problems,
            files_checked=checked,
            bytes_checked=bytes_checked,
            problems=problems,
        )

    async def remove(self, backup_id: str) -> None:
        """Delete every object under the backup's prefix; nothing when they are gone."""
        client = self.client()
        listed = await self._bounded(
            obstore.list(client, prefix=f"{backup_id}/").collect_async(), f"listing {backup_id}"
        )
        await self._delete([meta["path"] for meta in listed])
