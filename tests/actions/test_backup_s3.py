"""Backups kept in an S3-compatible bucket: a real server over HTTP, both databases.

The doors of "a backup in the bucket is complete, checked and removable": its manifest
object lands last and names the store; verify and the recovery test read it back; a flipped
byte, a missing object and a missing manifest are each named; prune deletes the objects;
an unreachable or silent endpoint, or missing credentials, fail clearly and store nothing;
a backup kept in the local folder before the switch stays readable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import update

from tests.actions.conftest import action_context
from tests.fixtures.s3 import ACCESS_KEY, SECRET_KEY, Bucket
from tests.fixtures.servers import free_port
from triadops.actions.backup import (
    BackupIdParams,
    BackupParams,
    DatabaseBackupAction,
    VerifyBackupAction,
)
from triadops.actions.backup_prune import PruneBackupsAction, PruneParams
from triadops.actions.backup_store import backup_store
from triadops.actions.base import ActionContext
from triadops.domain.backups import MANIFEST_NAME, BackupManifest
from triadops.domain.errors import ActionFailed
from triadops.domain.operations import utcnow
from triadops.ops.backup.recovery import RestoreTestAction
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings, S3StoreSettings
from triadops.storage.backups import list_backups
from triadops.storage.tables import BackupRow


def context(runtime: Runtime, s3: S3StoreSettings | None, step: int = 0) -> ActionContext:
    settings = runtime.settings.model_copy(update={"backups": BackupSettings(s3=s3)})
    return action_context(settings, runtime.databases, step)


async def backup(ctx: ActionContext) -> dict[str, object]:
    return dict(await DatabaseBackupAction().run(ctx, BackupParams()))


def params(made: dict[str, object]) -> BackupIdParams:
    return BackupIdParams(backup_id=str(made["backup_id"]))


def spool(ctx: ActionContext) -> list[str]:
    folder = ctx.settings.backup_folder
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def stored_ids(runtime: Runtime) -> list[str]:
    async with runtime.session(read_only=True) as session:
        return [row.id for row in await list_backups(session)]


async def test_a_backup_lands_in_the_bucket_and_passes_verify_and_its_recovery_test(
    runtime: Runtime, s3_bucket: Bucket
) -> None:
    ctx = context(runtime, s3_bucket.settings())
    made = await backup(ctx)
    backup_id = str(made["backup_id"])
    where = f"s3://{s3_bucket.name}/{s3_bucket.prefix}"
    assert made["folder"] == f"{where}/{backup_id}"
    keys = s3_bucket.object_keys()
    assert f"{s3_bucket.prefix}/{backup_id}/{MANIFEST_NAME}" in keys and len(keys) == 2
    kept = BackupManifest.model_validate_json(
        s3_bucket.read(f"{s3_bucket.prefix}/{backup_id}/{MANIFEST_NAME}")
    )
    assert kept.store == where and kept.checksum() == made["checksum"]
    (dump,) = kept.files
    stored = s3_bucket.read(f"{s3_bucket.prefix}/{backup_id}/{dump.name}")
    assert len(stored) == dump.size_bytes
    assert spool(ctx) == []  # the local spool is gone once uploaded

    verified = await VerifyBackupAction().run(ctx, params(made))
    assert verified["files_checked"] == 1 and verified["bytes_checked"] == dump.size_bytes
    tested = await RestoreTestAction().run(ctx, params(made))
    assert tested["passed"] is True and tested["checksum"] == made["checksum"]
    assert spool(ctx) == []  # the downloaded scratch copy is gone too


async def test_a_flipped_byte_in_an_object_fails_verify_and_recovery_test_naming_it(
    runtime: Runtime, s3_bucket: Bucket
) -> None:
    ctx = context(runtime, s3_bucket.settings())
    made = await backup(ctx)
    key = next(k for k in s3_bucket.object_keys() if not k.endswith(MANIFEST_NAME))
    data = bytearray(s3_bucket.read(key))
    data[len(data) // 2] ^= 0x01
    s3_bucket.write(key, bytes(data))
    name = key.rsplit("/", 1)[1]
    with pytest.raises(ActionFailed, match=rf"{name}: sha256 [0-9a-f]+, the manifest says"):
        await VerifyBackupAction().run(ctx, params(made))
    with pytest.raises(ActionFailed, match=rf"{name}: sha256"):
        await RestoreTestAction().run(ctx, params(made))


@pytest.mark.parametrize("which", ["file", "manifest"])
async def test_a_missing_object_fails_verify_naming_it(
    runtime: Runtime, s3_bucket: Bucket, which: str
) -> None:
    ctx = context(runtime, s3_bucket.settings())
    made = await backup(ctx)
    keys = s3_bucket.object_keys()
    key = next(k for k in keys if k.endswith(MANIFEST_NAME) == (which == "manifest"))
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=key)
    name = key.rsplit("/", 1)[1]
    with pytest.raises(ActionFailed, match=rf"failed verification: {name}: missing"):
        await VerifyBackupAction().run(ctx, params(made))
    with pytest.raises(ActionFailed, match=rf"{name}: missing"):
        await RestoreTestAction().run(ctx, params(made))


async def test_prune_deletes_the_objects_of_what_it_prunes_and_keeps_the_rest(
    runtime: Runtime, s3_bucket: Bucket
) -> None:
    ctx = context(runtime, s3_bucket.settings())
    old, new = await backup(ctx), await backup(context(runtime, s3_bucket.settings(), 1))
    async with runtime.session() as session:
        await session.execute(
            update(BackupRow)
            .where(BackupRow.id == old["backup_id"])
            .values(created_at=utcnow() - timedelta(days=40))
        )
        await session.commit()
    done = await PruneBackupsAction().run(ctx, PruneParams())
    assert done["deleted"] == [old["backup_id"]]
    assert {k.split("/")[1] for k in s3_bucket.object_keys()} == {new["backup_id"]}
    assert await stored_ids(runtime) == [new["backup_id"]]
    await backup_store(ctx.settings).remove(str(old["backup_id"]))  # already gone: nothing


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("endpoint", ["refused", "silent"])
async def test_an_unreachable_endpoint_fails_clearly_within_the_timeout_and_stores_nothing(
    runtime: Runtime, s3_bucket: Bucket, endpoint: str, request: pytest.FixtureRequest
) -> None:
    port = free_port() if endpoint == "refused" else request.getfixturevalue("silent_port")
    s3 = s3_bucket.settings(
        endpoint_url=f"http://127.0.0.1:{port}", timeout_s=1.0, connect_timeout_s=1.0, retries=0
    )
    ctx = context(runtime, s3)
    with pytest.raises(ActionFailed) as caught:
        await asyncio.wait_for(backup(ctx), timeout=30)
    message = caught.value.message
    assert message.startswith(f"s3://{s3_bucket.name}/{s3_bucket.prefix}: listing the bucket")
    assert ("timed out after 1.0 s" in message) == (endpoint == "silent")
    assert "\n" not in message and SECRET_KEY not in message
    assert await stored_ids(runtime) == []
    assert spool(ctx) == [] and s3_bucket.object_keys() == []


async def test_missing_credentials_are_named_and_nothing_is_stored(
    runtime: Runtime, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    ctx = context(runtime, s3_bucket.settings())
    with pytest.raises(ActionFailed, match="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        await backup(ctx)
    assert await stored_ids(runtime) == [] and s3_bucket.object_keys() == []


async def test_named_credential_variables_are_read(
    runtime: Runtime, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_S3_ID", ACCESS_KEY)
    monkeypatch.setenv("BACKUP_S3_SECRET", SECRET_KEY)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3 = s3_bucket.settings(access_key_env="BACKUP_S3_ID", secret_key_env="BACKUP_S3_SECRET")
    made = await backup(context(runtime, s3))
    assert any(str(made["backup_id"]) in k for k in s3_bucket.object_keys())


async def test_a_local_backup_stays_readable_after_switching_to_the_bucket(
    runtime: Runtime, s3_bucket: Bucket
) -> None:
    local = await backup(context(runtime, None))
    folder = Path(str(local["folder"]))
    written = json.loads((folder / MANIFEST_NAME).read_bytes())
    assert written["store"] == "local"
    ctx = context(runtime, s3_bucket.settings(), 1)
    assert (await VerifyBackupAction().run(ctx, params(local)))["files_checked"] == 1
    assert (await RestoreTestAction().run(ctx, params(local)))["passed"] is True
    assert s3_bucket.object_keys() == []
    await backup_store(ctx.settings).remove(str(local["backup_id"]))
    assert not folder.exists()


async def test_a_bucket_backup_without_s3_settings_is_refused_naming_where_it_is(
    runtime: Runtime, s3_bucket: Bucket
) -> None:
    made = await backup(context(runtime, s3_bucket.settings()))
    ctx = context(runtime, None, 1)
    with pytest.raises(ActionFailed, match=r"is kept in s3://.*backups\.s3 is not configured"):
        await VerifyBackupAction().run(ctx, params(made))


def test_the_readme_storage_example_is_valid_settings() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("### Backup storage and encryption") :]
    start = section.index("```toml\n") + len("```toml\n")
    block = section[start : section.index("\n```\n", start)]
    backups = BackupSettings.model_validate(tomllib.loads(block)["backups"])
    assert backups.encrypt and backups.s3 is not None
    assert backups.s3.uri == "s3://triad-backups/prod"


async def test_a_manifest_written_before_stores_existed_keeps_its_checksum_and_is_local(
    runtime: Runtime,
) -> None:
    made = await backup(context(runtime, None))
    folder = Path(str(made["folder"]))
    old = json.loads((folder / MANIFEST_NAME).read_bytes())
    for key in ("store", "encryption", "members", "skipped", "command"):  # added since
        del old[key]
    for file in old["files"]:
        del file["plain_size_bytes"], file["plain_sha256"]
    canonical = orjson.dumps(BackupManifest.model_validate(old).model_dump(mode="json"))
    assert b'"store":null' in canonical and b'"encryption":null' in canonical
    before = hashlib.sha256(orjson.dumps(old, option=orjson.OPT_SORT_KEYS)).hexdigest()
    manifest = BackupManifest.model_validate(old)
    assert manifest.store is None and manifest.checksum() == before
    (folder / MANIFEST_NAME).write_bytes(orjson.dumps(old))
    assert (await backup_store(runtime.settings).verify(manifest)).ok
