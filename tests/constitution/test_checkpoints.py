"""Signed checkpoints: what someone who can write the database can no longer hide.

Each tamper test is the attacker's move: raw SQL against the ledger, or lines added to the
checkpoint log, then the verifier's findings, each naming the checkpoint and the seq.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from structlog.testing import capture_logs

from tests.fixtures.pipeline import load, request, submit
from triadops.constitution import ledger
from triadops.constitution.ledger import audit, checkpoints
from triadops.domain.chain import link_hash
from triadops.domain.checkpoints import Checkpoint, iso_utc
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict, InvalidRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerHeadRow, LedgerRow
from triadops.worker.claims import drive_once
from triadops.worker.loop import run_worker


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "elsewhere" / "checkpoints.jsonl"


async def grow(rt: Runtime, operations: int = 2) -> None:
    """Submit and complete a few noop operations (10 ledger entries each)."""
    for _ in range(operations):
        await submit(rt, request())
    await drive_once(rt.powers, owner="w")


async def checkpoint(rt: Runtime, key: Ed25519PrivateKey, log_path: Path) -> Checkpoint:
    async with rt.session(read_only=True) as session:
        return await checkpoints.write_checkpoint(session, key=key, log_path=log_path)


async def findings(rt: Runtime, key: Ed25519PrivateKey, log_path: Path) -> list[str]:
    async with rt.session(read_only=True) as session:
        return await checkpoints.verify_checkpoints(
            session, log_path=log_path, public_key=key.public_key()
        )


async def chain_intact(rt: Runtime) -> bool:
    async with rt.session(read_only=True) as session:
        return (await ledger.verify(session)).ok


async def head(rt: Runtime) -> tuple[int, str]:
    async with rt.session(read_only=True) as session:
        return await store.head(session)


async def event_at(rt: Runtime, seq: int) -> str | None:
    async with rt.session(read_only=True) as session:
        row = await session.get(LedgerRow, seq)
        return row.event if row is not None else None


def log_lines(log_path: Path) -> list[str]:
    return log_path.read_text().splitlines()


async def test_an_honest_ledger_that_grew_after_its_checkpoints_has_no_finding(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    empty = await checkpoint(runtime, key, log_path)
    await grow(runtime)
    first = await checkpoint(runtime, key, log_path)
    await grow(runtime)
    second = await checkpoint(runtime, key, log_path)
    await grow(runtime)

    assert (empty.seq, first.seq, second.seq) == (0, 20, 40)
    assert (second.seq, second.hash) == (40, (await store_hash(runtime, 40)))
    assert [Checkpoint.model_validate_json(line) for line in log_lines(log_path)] == [
        empty,
        first,
        second,
    ]
    assert await findings(runtime, key, log_path) == []
    assert await chain_intact(runtime)


async def store_hash(rt: Runtime, seq: int) -> str:
    async with rt.session(read_only=True) as session:
        row = await session.get(LedgerRow, seq)
        assert row is not None
        return row.hash


async def test_a_truncated_tail_with_the_head_moved_back_is_found(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await grow(runtime, 3)
    signed = await checkpoint(runtime, key, log_path)
    cut = signed.seq - 7
    async with runtime.session() as session:  # the attacker: delete the tail, move the head
        await session.execute(delete(LedgerRow).where(LedgerRow.seq > cut))
        kept = (await session.execute(select(LedgerRow.hash).where(LedgerRow.seq == cut))).one()
        await session.execute(update(LedgerHeadRow).values(seq=cut, hash=kept.hash))
        await session.commit()

    assert await chain_intact(runtime), "the chain alone cannot see a clean truncation"
    at = iso_utc(signed.at)
    assert await findings(runtime, key, log_path) == [
        f"ledger truncated below checkpoint {signed.seq} (at {at}, log line 1): "
        f"entry {signed.seq} is missing",
        f"ledger head {cut} is below checkpoint {signed.seq} (at {at}, log line 1): "
        "the tail was truncated",
    ]
    with pytest.raises(Conflict, match=f"head {cut} is below the last checkpoint {signed.seq}"):
        await checkpoint(runtime, key, log_path)
    assert len(log_lines(log_path)) == 1, "a moved-back head is never signed"


async def rewrite_from(rt: Runtime, victim: int) -> None:
    """Edit entry `victim`, then recompute every later hash and the head, as an attacker would."""
    async with rt.session() as session:
        rows = (
            (
                await session.execute(
                    select(LedgerRow).where(LedgerRow.seq >= victim).order_by(LedgerRow.seq)
                )
            )
            .scalars()
            .all()
        )
        rows[0].actor = "mallory"
        prev = rows[0].prev_hash
        for row in rows:
            row.prev_hash = prev
            row.hash = prev = link_hash(prev, store.entry_body(row))
        await session.execute(update(LedgerHeadRow).values(seq=rows[-1].seq, hash=prev))
        await session.commit()


@pytest.mark.parametrize("where", ["before_both", "between"])
async def test_an_edit_with_every_later_hash_recomputed_is_found(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path, where: str
) -> None:
    await grow(runtime)
    first = await checkpoint(runtime, key, log_path)
    await grow(runtime)
    second = await checkpoint(runtime, key, log_path)
    victim = 3 if where == "before_both" else first.seq + 2

    await rewrite_from(runtime, victim)

    assert await chain_intact(runtime), "the rewrite is self-consistent"
    problems = await findings(runtime, key, log_path)
    rewritten = [
        f"entry {c.seq} was rewritten since the checkpoint at {iso_utc(c.at)} "
        f"(checkpoint {c.seq}, log line {line})"
        for line, c in ((1, first), (2, second))
        if where == "before_both" or c is second
    ]
    assert [p.split(": its hash")[0] for p in problems] == rewritten, problems
    with pytest.raises(Conflict, match=f"entry {second.seq} was rewritten"):
        await checkpoint(runtime, key, log_path)


async def test_a_rewrite_after_the_last_checkpoint_is_beyond_its_reach(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    """The documented limit: checkpoints prove only what they cover."""
    await grow(runtime)
    signed = await checkpoint(runtime, key, log_path)
    await grow(runtime)

    await rewrite_from(runtime, signed.seq + 1)

    assert await chain_intact(runtime)
    assert await findings(runtime, key, log_path) == []


async def test_forged_lines_and_other_keys_are_named_and_never_trusted(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await grow(runtime)
    honest = await checkpoint(runtime, key, log_path)
    other = Ed25519PrivateKey.generate()
    at = iso_utc(honest.at)
    # Altered after signing: claims a head far beyond the real one.
    altered = honest.model_copy(update={"seq": 10_000})
    # Signed by the attacker's own key, under the attacker's key id.
    foreign = checkpoints.sign_checkpoint(other, seq=10_001, hash="a" * 64, at=honest.at)
    # Signed by the attacker's key but claiming ours.
    impostor = foreign.model_copy(update={"key_id": honest.key_id, "seq": 10_002})
    with log_path.open("a") as log:
        for forged in (altered, foreign, impostor):
            log.write(forged.model_dump_json() + "\n")
        log.write('{"seq": "not a number"\n')

    ours = checkpoints.public_key_id(key.public_key())
    problems = await findings(runtime, key, log_path)
    assert problems.pop().startswith("checkpoint log line 5: not a checkpoint (Invalid JSON")
    assert problems == [
        f"checkpoint 10000 (at {at}, log line 2): bad signature (forged, or altered after signing)",
        f"checkpoint 10001 (at {at}, log line 3): signed by an unknown key {foreign.key_id} "
        f"(expected {ours})",
        f"checkpoint 10002 (at {at}, log line 4): bad signature (forged, or altered after signing)",
    ]
    # None of the forged heads is taken as the last checkpoint: the writer goes on.
    assert (await checkpoint(runtime, key, log_path)).seq == honest.seq


async def test_checkpoints_whose_seq_goes_down_are_named(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await grow(runtime)
    first = await checkpoint(runtime, key, log_path)
    await grow(runtime)
    second = await checkpoint(runtime, key, log_path)
    lines = log_lines(log_path)
    log_path.write_text(lines[1] + "\n" + lines[0] + "\n")  # the log spliced out of order

    assert await findings(runtime, key, log_path) == [
        f"checkpoint {first.seq} (at {iso_utc(first.at)}, log line 2): seq went down, "
        f"below checkpoint {second.seq} (at {iso_utc(second.at)}, log line 1)"
    ]


async def test_a_ledger_without_a_checkpoint_log_still_verifies(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await grow(runtime)

    assert not log_path.exists()
    assert await findings(runtime, key, log_path) == []
    assert await chain_intact(runtime)


async def test_two_writers_sharing_a_log_append_in_seq_order(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await grow(runtime)

    async def writer() -> None:
        for _ in range(5):
            await checkpoint(runtime, key, log_path)
            await submit(runtime, request())

    await asyncio.gather(writer(), writer(), writer())

    seqs = [Checkpoint.model_validate_json(line).seq for line in log_lines(log_path)]
    assert len(seqs) == 15 and seqs == sorted(seqs)
    assert await findings(runtime, key, log_path) == []


def test_a_generated_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "checkpoint.pem"
    public = checkpoints.generate_key_file(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_bytes()
    loaded = checkpoints.parse_private_key(written, source=str(path))
    assert checkpoints.public_key_id(loaded.public_key()) == checkpoints.public_key_id(public)
    with pytest.raises(Conflict, match="already exists"):
        checkpoints.generate_key_file(path)
    assert path.read_bytes() == written
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    with pytest.raises(Conflict):
        checkpoints.generate_key_file(tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists()


def test_keys_from_settings_and_refusals_that_never_echo_the_key(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    text = base64.b64encode(raw).decode()
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = tmp_path / "public.key"
    public.write_text(checkpoints.public_key_text(key.public_key()) + "\n")
    expected = checkpoints.public_key_id(key.public_key())

    def key_id_of(**fields: object) -> str | None:
        settings = Settings(home=tmp_path, **fields)  # type: ignore[arg-type]
        private = checkpoints.signing_key(settings)
        verifying = checkpoints.verifying_key(settings)
        if private is not None:
            assert checkpoints.public_key_id(private.public_key()) == expected
        return checkpoints.public_key_id(verifying) if verifying else None

    assert key_id_of(checkpoint_key_file=pem) == expected
    assert key_id_of(checkpoint_key=SecretStr(text)) == expected
    assert key_id_of(checkpoint_public_key_file=public) == expected
    assert key_id_of() is None
    with pytest.raises(InvalidRequest, match="not both"):
        key_id_of(checkpoint_key=SecretStr(text), checkpoint_key_file=pem)
    truncated = text[:-8]
    with pytest.raises(InvalidRequest) as refused:
        key_id_of(checkpoint_key=SecretStr(truncated))
    assert "TRIAD_CHECKPOINT_KEY" in refused.value.message
    assert truncated not in refused.value.message
    with pytest.raises(InvalidRequest, match="not a public key"):
        key_id_of(checkpoint_public_key_file=pem)
    with pytest.raises(InvalidRequest, match="cannot read the key file"):
        key_id_of(checkpoint_key_file=tmp_path / "absent.pem")
    assert "**********" in repr(Settings(home=tmp_path, checkpoint_key=SecretStr(text)))


async def run_worker_until(rt: Runtime, done: asyncio.Event, seconds: float = 20) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(rt.powers, stop=stop, owner="w"))
    try:
        await asyncio.wait_for(done.wait(), timeout=seconds)
    finally:
        stop.set()
        await worker


def signing_worker(settings: Settings, key_file: Path, log_path: Path) -> Settings:
    """Settings for a worker that signs the head every 50 ms and polls fast."""
    return settings.model_copy(
        update={
            "checkpoint_key_file": key_file,
            "checkpoint_log": log_path,
            "checkpoint_every_s": 0.05,
            "worker_poll_s": 0.02,
        }
    )


async def test_the_worker_signs_the_head_on_its_cadence(
    settings: Settings, log_path: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "worker.pem"
    checkpoints.generate_key_file(key_file)
    configured = signing_worker(settings, key_file, log_path)
    rt = await Runtime.open(configured, migrate=False)
    try:
        op = await submit(rt, request())
        covered = asyncio.Event()

        async def watch() -> None:
            while True:
                lines = log_path.read_text().splitlines() if log_path.exists() else []
                finished = (await load(rt, op.operation_id)).status is OperationStatus.COMPLETED
                if finished and lines:
                    last = Checkpoint.model_validate_json(lines[-1])
                    seq, _ = await head(rt)
                    # Covered: all that came after the last checkpoint is its own record.
                    if seq == last.seq + 1 and await event_at(rt, seq) == "checkpoint_signed":
                        covered.set()
                        return
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        await run_worker_until(rt, covered)
        await watcher
        public = checkpoints.verifying_key(configured)
        assert public is not None
        async with rt.session(read_only=True) as session:
            report, recorded = await audit.verify_with_checkpoints(session)
            mine = recorded[checkpoints.public_key_id(public)]
            checked = await checkpoints.check_log(
                session, log_path=log_path, public_key=public, recorded=mine
            )
            assert report.ok and checked.problems == []
            assert sorted(mine) == [
                c.seq for c in map(Checkpoint.model_validate_json, log_lines(log_path))
            ]
            # Nothing new but the record: the worker does not grow the ledger on its own.
            assert not await checkpoints.checkpoint_due(
                session, public_key=public, log_path=log_path
            )
        assert len(log_lines(log_path)) >= 2, "one at start, more as the ledger grows"
    finally:
        await rt.close()


async def test_a_checkpoint_that_fails_is_a_warning_and_the_worker_goes_on(
    settings: Settings, log_path: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "broken.pem"
    key_file.write_text("not-a-key-but-a-secret-looking-string\n")
    configured = signing_worker(settings, key_file, log_path)
    rt = await Runtime.open(configured, migrate=False)
    try:
        op = await submit(rt, request())
        completed = asyncio.Event()

        async def watch() -> None:
            while (await load(rt, op.operation_id)).status is not OperationStatus.COMPLETED:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # a few more checkpoint attempts
            completed.set()

        with capture_logs() as logs:
            watcher = asyncio.create_task(watch())
            await run_worker_until(rt, completed)
            await watcher
    finally:
        await rt.close()
    warnings = [e for e in logs if e["event"] == "checkpoint not written"]
    assert len(warnings) >= 2 and {e["log_level"] for e in warnings} == {"warning"}
    assert str(key_file) in warnings[0]["reason"]
    assert "secret-looking" not in repr(logs)
    assert not log_path.exists()
