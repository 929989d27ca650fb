"""Each signed checkpoint published outside: a file or a webhook (a real local HTTP server).

The point is the attacker who rewrites the whole ledger and the local log with it, and signs
the forged head with the worker's key: the copy published elsewhere still names the rewrite.
Every door a publication can fail through (an error answer, a receiver down, a slow one, a
file that cannot be written) is a warning naming the target's host only, and the checkpoint
stands, written and recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from structlog.testing import capture_logs

from tests.constitution.test_checkpoints import grow, rewrite_from
from tests.fixtures.receivers import http_receiver
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.signing import signature_problem
from triadops.domain.checkpoints import Checkpoint
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import ledger as store
from triadops.worker.loop import checkpoint_once


def publishing(settings: Settings, tmp_path: Path, target: str, **more: object) -> Settings:
    """Settings of a worker that signs with a fresh key and publishes to `target`."""
    key_file = tmp_path / "keys" / "worker.pem"
    if not key_file.exists():
        checkpoints.generate_key_file(key_file)
    return settings.model_copy(
        update={
            "checkpoint_key_file": key_file,
            "checkpoint_log": tmp_path / "home-log" / "checkpoints.jsonl",
            "checkpoint_publish_to": target,
            **more,
        }
    )


def key_of(settings: Settings) -> Ed25519PrivateKey:
    key = checkpoints.signing_key(settings)
    assert key is not None
    return key


def lines(path: Path) -> list[Checkpoint]:
    return [Checkpoint.model_validate_json(line) for line in path.read_text().splitlines()]


async def test_the_webhook_receives_each_signed_head_which_verifies_with_the_public_key(
    settings: Settings, tmp_path: Path
) -> None:
    async with http_receiver() as receiver:
        configured = publishing(settings, tmp_path, receiver.url("/heads/s3cr3t-token"))
        rt = await Runtime.open(configured, migrate=False)
        try:
            await grow(rt, 1)
            await checkpoint_once(rt.powers)
            await grow(rt, 1)
            await checkpoint_once(rt.powers)
        finally:
            await rt.close()

    assert [r.status for r in receiver.received] == [200, 200]
    assert {r.headers["content-type"] for r in receiver.received} == {"application/json"}
    published = [Checkpoint.model_validate(r.json()) for r in receiver.received]
    assert published == lines(configured.resolved_checkpoint_log)
    public = key_of(configured).public_key()
    assert [signature_problem(c, public) for c in published] == [None, None]
    assert published[0].seq < published[1].seq


async def test_a_published_file_finds_a_rewrite_of_the_whole_database_and_its_log(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "other-storage" / "heads.jsonl"
    configured = publishing(settings, tmp_path, f"file://{outside}")
    local_log = configured.resolved_checkpoint_log
    key = key_of(configured)
    rt = await Runtime.open(configured, migrate=False)
    try:
        await grow(rt, 2)
        await checkpoint_once(rt.powers)
        assert lines(outside) == lines(local_log)
        [honest] = lines(outside)
        # The attacker holds the database, the data folder and the worker's key: they rewrite
        # entry 3 with every later hash, and replace the local log with the forged head signed.
        await rewrite_from(rt, 3)
        local_log.unlink()
        async with rt.session(read_only=True) as session:
            await checkpoints.write_checkpoint(session, key=key, log_path=local_log)
            fooled = await checkpoints.verify_checkpoints(
                session, log_path=local_log, public_key=key.public_key()
            )
            found = await checkpoints.verify_checkpoints(
                session, log_path=outside, public_key=key.public_key()
            )
            assert (await store.head(session))[0] >= honest.seq
    finally:
        await rt.close()

    assert fooled == [], "the rewritten log agrees with the rewritten ledger"
    assert len(found) == 1
    assert found[0].startswith(f"entry {honest.seq} was rewritten since the checkpoint at ")


@pytest.mark.parametrize("failure", ["error answer", "down", "slow"])
async def test_a_failed_publication_is_a_warning_and_the_checkpoint_stands(
    settings: Settings, tmp_path: Path, failure: str
) -> None:
    async with http_receiver() as receiver:
        if failure == "error answer":
            receiver.fail_next(5, status=503)
        elif failure == "down":
            await receiver.stop()
        else:
            receiver.delay_s = 2.0
        target = receiver.url("/heads/s3cr3t-token")
        configured = publishing(settings, tmp_path, target, checkpoint_publish_timeout_s=0.3)
        rt = await Runtime.open(configured, migrate=False)
        try:
            await grow(rt, 1)
            with capture_logs() as logs:
                await checkpoint_once(rt.powers)
            async with rt.session(read_only=True) as session:
                seq, _ = await store.head(session)
        finally:
            await rt.close()

    [signed] = lines(configured.resolved_checkpoint_log)
    assert seq == signed.seq + 1, "the checkpoint was recorded in the ledger all the same"
    [warning] = [e for e in logs if e["event"] == "checkpoint not published"]
    assert warning["log_level"] == "warning"
    assert warning["target"] == f"http://127.0.0.1:{receiver.port}"
    assert "s3cr3t" not in repr(logs)
    reasons = {
        "error answer": "answered 503",
        "down": "ConnectError",
        "slow": "no answer within 0.3 s",
    }
    assert reasons[failure] in warning["reason"]


async def test_a_file_that_cannot_be_written_is_a_warning(
    settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    configured = publishing(settings, tmp_path, f"file://{blocker}/heads.jsonl")
    rt = await Runtime.open(configured, migrate=False)
    try:
        await grow(rt, 1)
        with capture_logs() as logs:
            await checkpoint_once(rt.powers)
    finally:
        await rt.close()

    assert len(lines(configured.resolved_checkpoint_log)) == 1
    [warning] = [e for e in logs if e["event"] == "checkpoint not published"]
    assert "FileExistsError" in warning["reason"] or "NotADirectoryError" in warning["reason"]


@pytest.mark.parametrize(
    "target",
    ["heads.jsonl", "file://relative/heads", "ftp://example.org/heads", "https:///no-host"],
)
def test_a_target_that_is_no_file_url_or_webhook_is_refused(target: str) -> None:
    with pytest.raises(ValidationError, match="expected file:///absolute/path or an http"):
        Settings(checkpoint_publish_to=target)
