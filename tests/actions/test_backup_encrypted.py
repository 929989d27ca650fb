"""Backups encrypted at rest, in the local folder and in a bucket, on both databases.

The doors of "an encrypted backup is only ever read with its key, and never changed by
trying": verify and the recovery test pass with the key; the stored file holds no plaintext;
a wrong key and a missing key are refused by name before anything is decrypted, the files'
bytes unchanged; a tampered chunk and a truncated file fail naming the file; encrypting
without a key fails before any backup work and stores nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.actions.conftest import action_context
from tests.fixtures.pipeline import request, submit
from tests.fixtures.s3 import Bucket
from triadops.actions.backup import (
    BackupIdParams,
    BackupParams,
    DatabaseBackupAction,
    VerifyBackupAction,
)
from triadops.actions.backup_cipher import key_id
from triadops.actions.backup_store import backup_store
from triadops.actions.base import ActionContext
from triadops.domain.backups import MANIFEST_NAME, BackupManifest
from triadops.domain.errors import ActionFailed
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings, S3StoreSettings
from triadops.storage.backups import list_backups, read_manifest

KEY_ENV = "TRIAD_BACKUP_KEY"
MARKER = "PLAINTEXT-MARKER-7f3a9c"


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A fresh backup key, set where ``backups.key_env`` looks by default."""
    value = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, base64.b64encode(value).decode())
    return value


def context(
    runtime: Runtime, step: int = 0, *, encrypt: bool = True, s3: S3StoreSettings | None = None
) -> ActionContext:
    backups = BackupSettings(encrypt=encrypt, s3=s3)
    settings = runtime.settings.model_copy(update={"backups": backups})
    return action_context(settings, runtime.databases, step)


async def backup(ctx: ActionContext) -> dict[str, object]:
    return dict(await DatabaseBackupAction().run(ctx, BackupParams()))


def params(made: dict[str, object]) -> BackupIdParams:
    return BackupIdParams(backup_id=str(made["backup_id"]))


async def manifest_of(runtime: Runtime, made: dict[str, object]) -> BackupManifest:
    data = await read_manifest(runtime.databases.get("triad"), str(made["backup_id"]))
    return BackupManifest.model_validate(data)


def dump_of(made: dict[str, object]) -> Path:
    (dump,) = [p for p in Path(str(made["folder"])).iterdir() if p.name != MANIFEST_NAME]
    return dump


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def plaintext_sign(engine: AsyncEngine) -> bytes:
    """What the unencrypted file holds: the marker (SQLite), pg_dump's magic (compressed)."""
    return MARKER.encode() if engine.dialect.name == "sqlite" else b"PGDMP"


async def test_an_encrypted_backup_round_trips_and_its_file_holds_no_plaintext(
    runtime: Runtime, key: bytes
) -> None:
    await submit(runtime, request(description=f"a change {MARKER}"))
    ctx = context(runtime)
    made = await backup(ctx)
    manifest = await manifest_of(runtime, made)
    assert manifest.encryption is not None and manifest.encryption.key_id == key_id(key)
    (file,) = manifest.files
    assert file.plain_sha256 is not None and file.plain_sha256 != file.sha256
    stored = dump_of(made).read_bytes()
    assert stored.startswith(b"TRIADBK") and len(stored) == file.size_bytes == made["size_bytes"]
    assert hashlib.sha256(stored).hexdigest() == file.sha256
    sign = plaintext_sign(runtime.databases.get("triad"))
    assert sign not in stored
    async with backup_store(ctx.settings).readable(manifest) as folder:
        plain = (folder / file.name).read_bytes()
    assert sign in plain and hashlib.sha256(plain).hexdigest() == file.plain_sha256
    assert not folder.exists()  # the decrypted scratch copy is removed

    verified = await VerifyBackupAction().run(ctx, params(made))
    assert verified["files_checked"] == 1
    tested = await RestoreTestAction().run(ctx, params(made))
    assert tested["passed"] is True and tested["checksum"] == made["checksum"]


async def test_a_wrong_key_is_refused_by_name_and_the_backup_is_untouched(
    runtime: Runtime, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    folder = Path(str(made["folder"]))
    before = snapshot(folder)
    other = os.urandom(32)
    monkeypatch.setenv(KEY_ENV, base64.b64encode(other).decode())
    refusal = (
        rf"backup {made['backup_id']} was encrypted with key id {key_id(key)}, the "
        rf"configured key \({KEY_ENV}\) is {key_id(other)}"
    )
    with pytest.raises(ActionFailed, match=refusal):
        await VerifyBackupAction().run(ctx, params(made))
    with pytest.raises(ActionFailed, match=refusal):
        await RestoreTestAction().run(ctx, params(made))
    assert snapshot(folder) == before
    monkeypatch.setenv(KEY_ENV, base64.b64encode(key).decode())
    assert (await RestoreTestAction().run(ctx, params(made)))["passed"] is True


async def test_a_missing_key_is_named_and_verify_still_needs_none(
    runtime: Runtime, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    before = snapshot(Path(str(made["folder"])))
    monkeypatch.delenv(KEY_ENV)
    assert (await VerifyBackupAction().run(ctx, params(made)))["files_checked"] == 1
    with pytest.raises(
        ActionFailed,
        match=rf"backup {made['backup_id']} is encrypted \(key id {key_id(key)}\) and "
        rf"{KEY_ENV} is not set",
    ):
        await RestoreTestAction().run(ctx, params(made))
    assert snapshot(Path(str(made["folder"]))) == before


async def test_a_tampered_chunk_fails_naming_the_file_even_past_verify(
    runtime: Runtime, key: bytes
) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    dump = dump_of(made)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    with pytest.raises(ActionFailed, match=rf"{dump.name}: sha256 [0-9a-f]+, the manifest says"):
        await VerifyBackupAction().run(ctx, params(made))
    # Decrypting authenticates each chunk on its own, whatever the manifest says.
    manifest = await manifest_of(runtime, made)
    with pytest.raises(ActionFailed, match=rf"{dump.name}: chunk \d+ fails authentication"):
        async with backup_store(ctx.settings).readable(manifest):
            pass


async def test_a_truncated_file_fails_naming_it(runtime: Runtime, key: bytes) -> None:
    ctx = context(runtime)
    made = await backup(ctx)
    dump = dump_of(made)
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) - 100])
    with pytest.raises(ActionFailed, match=rf"{dump.name}: {len(data) - 100} bytes, the manifest"):
        await VerifyBackupAction().run(ctx, params(made))
    with pytest.raises(ActionFailed, match=rf"{dump.name}: {len(data) - 100} bytes"):
        await RestoreTestAction().run(ctx, params(made))
    manifest = await manifest_of(runtime, made)
    with pytest.raises(ActionFailed, match=rf"{dump.name}: chunk \d+ fails authentication"):
        async with backup_store(ctx.settings).readable(manifest):
            pass


async def test_encrypting_without_a_key_fails_first_and_stores_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    ctx = context(runtime)
    with pytest.raises(ActionFailed, match=f"backups.encrypt is on but {KEY_ENV} is not set"):
        await backup(ctx)
    async with runtime.session(read_only=True) as session:
        assert await list_backups(session) == []
    folder = ctx.settings.backup_folder
    assert not folder.exists() or not any(folder.iterdir())


async def test_an_unencrypted_backup_stays_readable_with_encryption_on(
    runtime: Runtime, key: bytes
) -> None:
    made = await backup(context(runtime, encrypt=False))
    assert (await manifest_of(runtime, made)).encryption is None
    ctx = context(runtime, 1)
    assert (await RestoreTestAction().run(ctx, params(made)))["passed"] is True


async def test_an_encrypted_backup_in_a_bucket_round_trips(
    runtime: Runtime, key: bytes, s3_bucket: Bucket
) -> None:
    await submit(runtime, request(description=f"a change {MARKER}"))
    ctx = context(runtime, s3=s3_bucket.settings())
    made = await backup(ctx)
    (dump_key,) = [k for k in s3_bucket.object_keys() if not k.endswith(MANIFEST_NAME)]
    stored = s3_bucket.read(dump_key)
    assert stored.startswith(b"TRIADBK")
    assert plaintext_sign(runtime.databases.get("triad")) not in stored
    assert (await VerifyBackupAction().run(ctx, params(made)))["files_checked"] == 1
    assert (await RestoreTestAction().run(ctx, params(made)))["passed"] is True
