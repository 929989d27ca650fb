"""Evidence written as it is read: the same bundle as a whole export, a batch at a time.

The checks come first (:func:`prepare_evidence`): an unknown operation or an uncovered one
raises before a byte is written. The entries then go out a batch at a time, so a segment
crossing thousands of others' entries is never held whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.constitution.test_approvals import high_risk
from tests.constitution.test_evidence import export, sign
from tests.fixtures.pipeline import BOB, approve, submit
from triadops.constitution import ledger, lifecycle
from triadops.constitution.ledger.evidence import EvidenceExport, prepare_evidence
from triadops.constitution.ledger.evidence_check import check_bundle
from triadops.domain.errors import Conflict, NotFound
from triadops.domain.events import Refused
from triadops.domain.evidence import EvidenceBundle
from triadops.runtime import Runtime
from triadops.worker.claims import drive_once

OTHERS = 2500
BATCH = 100


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints.jsonl"


async def others(rt: Runtime, count: int) -> None:
    """Write `count` entries about no operation: another subject's history."""
    async with rt.session() as session:
        for i in range(count):
            ledger.record(session, Refused(action="filler", reason=f"n{i}"), actor="test")
        await lifecycle.commit(session)


async def long_segment(rt: Runtime, key: Ed25519PrivateKey, log_path: Path) -> str:
    """An operation submitted, thousands of others' entries, then approved and run; signed."""
    op = await submit(rt, high_risk())  # type: ignore[arg-type]
    await others(rt, OTHERS)
    await approve(rt, op.operation_id, BOB)
    await drive_once(rt.powers, owner="w")
    await sign(rt, key, log_path)
    return op.operation_id


def without_time(bundle: EvidenceBundle) -> EvidenceBundle:
    return bundle.model_copy(update={"exported_at": None})


async def test_a_long_segment_streams_a_batch_at_a_time_as_the_whole_export_would(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    operation_id = await long_segment(runtime, key, log_path)
    chunks: list[bytes] = []
    written_after: list[int] = []
    async with runtime.session(read_only=True) as session:
        made = await prepare_evidence(
            session, operation_id=operation_id, log_path=log_path, public_key=key.public_key()
        )
        async for chunk in made.chunks(session, batch=BATCH):
            written_after.append(made.written)
            chunks.append(chunk)

    entries = made.head.checkpoint.seq - made.first + 1
    assert entries > OTHERS and made.written == entries == made.summary()["entries"]
    # The small fields, then one chunk a batch, then the close: never the list at once.
    batches = -(-entries // BATCH)
    assert len(chunks) == batches + 2
    assert written_after[1] == BATCH, "the first batch goes out before the second is read"
    assert written_after[1:-1] == [min(BATCH * (i + 1), entries) for i in range(batches)]
    assert all(chunk.count(b'"seq":') <= BATCH for chunk in chunks[1:])
    streamed = EvidenceBundle.model_validate_json(b"".join(chunks))
    whole = await export(runtime, operation_id, key, log_path)
    assert without_time(streamed) == without_time(whole)
    assert json.loads(b"".join(chunks))["entries"][0]["event"] == "submitted"
    assert check_bundle(streamed, key.public_key()).ok


async def test_every_check_is_made_before_a_byte_is_written(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    op = await submit(runtime, high_risk())  # type: ignore[arg-type]

    async def prepared(operation_id: str) -> EvidenceExport:
        async with runtime.session(read_only=True) as session:
            return await prepare_evidence(
                session, operation_id=operation_id, log_path=log_path, public_key=key.public_key()
            )

    with pytest.raises(NotFound):
        await prepared("op-nosuch")
    with pytest.raises(Conflict, match="no signed checkpoint covers entry"):
        await prepared(op.operation_id)
    await sign(runtime, key, log_path)
    assert (await prepared(op.operation_id)).summary()["status"] == op.status.value
