"""``triad backup`` with backups kept encrypted in a bucket, configured from the environment."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest

from tests.cli.conftest import Triad, data, one_error_line
from tests.cli.test_backup import age, backed_up
from tests.fixtures.s3 import ACCESS_KEY, SECRET_KEY, Bucket
from triadops.domain.backups import MANIFEST_NAME
from triadops.settings import Settings

KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def in_bucket(triad: Triad, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """``backups.s3`` and ``backups.encrypt`` from TRIAD_* variables, the key beside them."""
    for name, value in {
        "TRIAD_BACKUPS__S3__BUCKET": s3_bucket.name,
        "TRIAD_BACKUPS__S3__PREFIX": s3_bucket.prefix,
        "TRIAD_BACKUPS__S3__ENDPOINT_URL": s3_bucket.endpoint_url,
        "TRIAD_BACKUPS__ENCRYPT": "true",
        "TRIAD_BACKUP_KEY": KEY,
    }.items():
        monkeypatch.setenv(name, value)
    return s3_bucket


def test_list_show_verify_and_test_restore_work_from_the_bucket(
    triad: Triad, in_bucket: Bucket
) -> None:
    made = backed_up(triad)
    where = f"s3://{in_bucket.name}/{in_bucket.prefix}/{made['backup_id']}"
    assert made["folder"] == where
    assert f"{in_bucket.prefix}/{made['backup_id']}/{MANIFEST_NAME}" in in_bucket.object_keys()
    listed = data(triad("backup", "list", "--json"))
    assert [b["id"] for b in listed] == [made["backup_id"]]
    shown = data(triad("backup", "show", made["backup_id"], "--json"))
    assert shown["folder"] == where and shown["manifest"]["store"] in where
    assert shown["manifest"]["encryption"]["algorithm"] == "aes-256-gcm"
    text = triad("backup", "show", made["backup_id"])
    assert text.exit_code == 0 and where in text.stdout
    assert (
        KEY not in text.stdout and SECRET_KEY not in text.stdout and ACCESS_KEY not in text.stdout
    )

    verified = data(triad("backup", "verify", made["backup_id"], "--wait", "--json"))
    assert verified["status"] == "completed", verified["status_reason"]
    tested = data(triad("backup", "test-restore", made["backup_id"], "--wait", "--json"))
    assert tested["status"] == "completed", tested["status_reason"]
    assert tested["steps"][0]["output"]["checksum"] == made["checksum"]
    home = Path(os.environ["TRIAD_HOME"])  # logs, the SQLite database, the spool
    for path in (p for p in home.rglob("*") if p.is_file()):
        held = path.read_bytes()
        for secret in (KEY, SECRET_KEY):
            assert secret.encode() not in held, path


def test_a_wrong_key_fails_the_recovery_test_naming_both_keys(
    triad: Triad, in_bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = backed_up(triad)
    before = {k: in_bucket.read(k) for k in in_bucket.object_keys()}
    monkeypatch.setenv("TRIAD_BACKUP_KEY", base64.b64encode(os.urandom(32)).decode())
    done = data(triad("backup", "test-restore", made["backup_id"], "--wait", "--json"), exit_code=1)
    assert done["status"] == "failed"
    assert f"backup {made['backup_id']} was encrypted with key id" in done["status_reason"]
    assert {k: in_bucket.read(k) for k in in_bucket.object_keys()} == before


def test_prune_deletes_the_objects_from_the_bucket(
    triad: Triad, in_bucket: Bucket, settings: Settings
) -> None:
    first, second = backed_up(triad), backed_up(triad)
    asyncio.run(age(settings, [first["backup_id"]], days=40))
    done = data(triad("backup", "prune", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["steps"][0]["output"]["deleted"] == [first["backup_id"]]
    assert {k.split("/")[1] for k in in_bucket.object_keys()} == {second["backup_id"]}


def test_a_bad_bucket_setting_is_one_line_naming_the_key(
    triad: Triad, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_BACKUPS__S3__BUCKET", "Not_A_Bucket")
    line = one_error_line(triad("backup", "list"))
    assert "backups.s3.bucket" in line
