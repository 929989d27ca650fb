"""The backup checks on a backup kept encrypted in a bucket: measured there, named there."""

from __future__ import annotations

import base64
import os

import pytest

from tests.actions.conftest import action_context
from tests.checks.test_builtin import context as check_context
from tests.fixtures.s3 import Bucket
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.domain.backups import MANIFEST_NAME
from triadops.ops.backup.checks import BackupCompletenessConfirmed, BackupIntegrityVerified
from triadops.runtime import Runtime
from triadops.settings.backups import BackupSettings


async def test_integrity_and_completeness_read_the_bucket_and_name_what_is_wrong(
    runtime: Runtime, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_BACKUP_KEY", base64.b64encode(os.urandom(32)).decode())
    backups = BackupSettings(s3=s3_bucket.settings(), encrypt=True)
    settings = runtime.settings.model_copy(update={"backups": backups})
    made = await DatabaseBackupAction().run(
        action_context(settings, runtime.databases), BackupParams()
    )
    ctx = check_context(runtime, settings=settings)
    integrity, completeness = BackupIntegrityVerified(), BackupCompletenessConfirmed()
    passed = integrity.judge(ctx, {}, await integrity.measure(ctx))
    assert passed.passed, passed.detail
    assert passed.detail.startswith(f"backup {made['backup_id']}: 1 files")

    (key,) = [k for k in s3_bucket.object_keys() if not k.endswith(MANIFEST_NAME)]
    data = bytearray(s3_bucket.read(key))
    data[-1] ^= 0x01
    s3_bucket.write(key, bytes(data))
    name = key.rsplit("/", 1)[1]
    failed = integrity.judge(ctx, {}, await integrity.measure(ctx))
    assert not failed.passed and f"{name}: sha256" in failed.detail
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=key)
    missing = completeness.judge(ctx, {}, await completeness.measure(ctx))
    assert not missing.passed and f"{name}: missing" in missing.detail
