"""What the S3 store does with big files and with a server that fails mid-backup.

Big files go up in parts and are read back in pieces (the store API that every backup
writer uses, with and without encryption). A server that takes the files but fails the
manifest shows the order (files first, the manifest last) and that what was uploaded is
deleted again, nothing stored, the spool gone: a real HTTP server started by the test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.actions.conftest import action_context
from tests.fixtures.s3 import Bucket
from triadops.actions.backup import BackupParams, DatabaseBackupAction
from triadops.actions.backup_files import describe
from triadops.actions.backup_s3 import described
from triadops.actions.backup_store import backup_store
from triadops.domain.backups import MANIFEST_NAME, BackupManifest
from triadops.domain.errors import ActionFailed
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.settings.backups import BackupSettings, S3StoreSettings
from triadops.storage.backups import list_backups

PART = 5 * 1024 * 1024
EMPTY_LISTING = (
    b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
    b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>'
    b"<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
    b"</ListBucketResult>"
)


def manifest_for(backup_id: str, files: list[object]) -> BackupManifest:
    now = datetime.now(UTC)
    return BackupManifest.model_validate(
        {
            "id": backup_id,
            "type": "database",
            "source": "triad",
            "dialect": "sqlite",
            "format": "sqlite",
            "started_at": now,
            "finished_at": now,
            "duration_s": 0.0,
            "size_bytes": 0,
            "files": files,
            "row_counts": {},
            "tools": {},
        }
    )


@pytest.mark.parametrize("encrypt", [False, True])
async def test_a_big_file_goes_up_in_parts_and_comes_back_whole(
    tmp_path: Path, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch, encrypt: bool
) -> None:
    monkeypatch.setenv("TRIAD_BACKUP_KEY", base64.b64encode(os.urandom(32)).decode())
    home = tmp_path / "home"
    backups = BackupSettings(s3=s3_bucket.settings(part_bytes=PART), encrypt=encrypt)
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{home}/t.db", backups=backups)
    store = backup_store(settings)
    await store.prepare(())
    partial = await store.start("db-big")
    digest = hashlib.sha256()
    with (partial / "archive.bin").open("wb") as f:
        for _ in range(12):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            f.write(block)
    manifest = manifest_for("db-big", list(await describe(partial, ["archive.bin"])))
    kept = await store.publish(partial, manifest)
    assert not partial.exists() and (kept.encryption is not None) == encrypt

    key = f"{s3_bucket.prefix}/db-big/archive.bin"
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert head["ContentLength"] == kept.files[0].size_bytes
    found = await store.verify(kept)
    assert found.ok and found.bytes_checked == kept.files[0].size_bytes
    async with store.readable(kept) as folder:
        read = hashlib.sha256()
        with (folder / "archive.bin").open("rb") as f:
            while block := f.read(1024 * 1024):
                read.update(block)
    assert read.hexdigest() == digest.hexdigest()


class FailingManifest(BaseHTTPRequestHandler):
    """Answers a listing and file uploads, fails the manifest's upload; records requests."""

    seen: list[tuple[str, str, bytes]]

    def _answer(self, status: int, body: bytes = b"", etag: bool = False) -> None:
        self.send_response(status)
        if etag:
            self.send_header("ETag", '"0123456789abcdef"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, body))
        return body

    def do_GET(self) -> None:
        self._record()
        self._answer(200, EMPTY_LISTING)

    def do_PUT(self) -> None:
        self._record()
        if self.path.endswith(MANIFEST_NAME):
            self._answer(500, b"<Error><Code>InternalError</Code></Error>")
        else:
            self._answer(200, etag=True)

    def do_POST(self) -> None:
        self._record()
        self._answer(200, b'<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>')

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def failing_server() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    seen: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (FailingManifest,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


async def test_a_failed_manifest_upload_deletes_the_files_and_stores_nothing(
    runtime: Runtime,
    s3_bucket: Bucket,
    failing_server: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    url, seen = failing_server  # s3_bucket: only for the credentials it sets
    s3 = S3StoreSettings(bucket="triad-faulty", prefix="p", endpoint_url=url, retries=0)
    settings = runtime.settings.model_copy(update={"backups": BackupSettings(s3=s3)})
    ctx = action_context(settings, runtime.databases)
    with pytest.raises(ActionFailed, match=rf"s3://triad-faulty/p: uploading {MANIFEST_NAME}"):
        await DatabaseBackupAction().run(ctx, BackupParams())
    puts = [path for method, path, _ in seen if method == "PUT"]
    assert len(puts) == 2 and puts[-1].endswith(f"/{MANIFEST_NAME}")  # the manifest last
    deletes = [body for method, _, body in seen if method == "POST"]
    assert len(deletes) == 1
    for path in puts:  # everything uploaded is asked to go again
        assert path.removeprefix("/triad-faulty/").encode() in deletes[0]
    async with runtime.session(read_only=True) as session:
        assert await list_backups(session) == []
    assert not any(settings.backup_folder.iterdir())


def test_a_failed_request_is_one_line_without_its_body_or_credentials() -> None:
    error = OSError(
        "Generic S3 error: Error performing GET http://s3.local/b?list-type=2 in 3ms - Server "
        'returned non-2xx status code: 403 Forbidden: <?xml version="1.0"?><Error><Code>'
        "SignatureDoesNotMatch</Code><AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>"
        "AWS4-HMAC-SHA256 secret-ish</StringToSign></Error>\n\nDebug source: …"
    )
    line = described(error, hiding=("AKIDEXAMPLE", "wJalrXUtnFEMI"))
    assert line == (
        "Generic S3 error: Error performing GET http://s3.local/b?list-type=2 in 3ms - Server "
        "returned non-2xx status code: 403 Forbidden (SignatureDoesNotMatch)"
    )
    assert described(OSError("denied for AKIDEXAMPLE"), hiding=("AKIDEXAMPLE",)) == "denied for ***"
    assert described(TimeoutError()) == "TimeoutError"
