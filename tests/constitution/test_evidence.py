"""Evidence bundles: an operation's record and its signed ledger segment, checked offline.

The honest bundle verifies with the public key alone; each tamper test is the attacker's
edit of the bundle (or of the database before export), and the finding that names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from tests.constitution.test_approvals import high_risk
from tests.fixtures.pipeline import BOB, approve, load, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.evidence import export_evidence
from triadops.constitution.ledger.evidence_check import check_bundle
from triadops.constitution.ledger.signing import sign_checkpoint
from triadops.domain.chain import link_hash
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict, NotFound
from triadops.domain.evidence import EvidenceBundle, EvidenceReport
from triadops.runtime import Runtime
from triadops.storage import ledger as store
from triadops.storage.tables import LedgerRow
from triadops.worker.claims import drive_once


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "elsewhere" / "checkpoints.jsonl"


async def sign(rt: Runtime, key: Ed25519PrivateKey, log_path: Path) -> int:
    """Sign the head into the log and record it, as the worker does; return its seq."""
    async with rt.session(read_only=True) as session:
        signed = await checkpoints.write_checkpoint(session, key=key, log_path=log_path)
    async with rt.session() as session:
        checkpoints.record_checkpoint(session, signed)
        await lifecycle.commit(session)
    return signed.seq


async def completed_and_approved(rt: Runtime) -> str:
    """A high-risk operation approved by bob and run to completion; return its id."""
    op = await submit(rt, high_risk())  # type: ignore[arg-type]
    await approve(rt, op.operation_id, BOB)
    await drive_once(rt.powers, owner="w")
    assert (await load(rt, op.operation_id)).status is OperationStatus.COMPLETED
    return op.operation_id


async def export(
    rt: Runtime, operation_id: str, key: Ed25519PrivateKey, log_path: Path
) -> EvidenceBundle:
    async with rt.session(read_only=True) as session:
        return await export_evidence(
            session, operation_id=operation_id, log_path=log_path, public_key=key.public_key()
        )


def checked(document: dict[str, Any], key: Ed25519PrivateKey) -> EvidenceReport:
    """Read an (edited) bundle document back and check it with the public key alone."""
    return check_bundle(EvidenceBundle.model_validate_json(json.dumps(document)), key.public_key())


def codes(report: EvidenceReport) -> list[str]:
    return [f.code for f in report.findings]


@pytest.fixture
async def bundle(runtime: Runtime, key: Ed25519PrivateKey, log_path: Path) -> dict[str, Any]:
    """An honest bundle as its JSON document: others' entries before, inside and after it."""
    await submit(runtime, request())
    operation_id = await completed_and_approved(runtime)
    await submit(runtime, request())  # another subject's entry inside the segment
    await sign(runtime, key, log_path)
    await submit(runtime, request())  # after the checkpoint: not in the bundle
    made = await export(runtime, operation_id, key, log_path)
    document: dict[str, Any] = json.loads(made.model_dump_json())
    return document


def entry_index(document: dict[str, Any], event: str) -> int:
    """The position of the operation's first entry of `event` in the segment."""
    return next(
        i
        for i, e in enumerate(document["entries"])
        if e["event"] == event and e["operation_id"] == document["operation_id"]
    )


async def test_an_honest_bundle_verifies_with_the_public_key_alone(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    report = checked(bundle, key)

    assert report.findings == [] and report.ok
    entries = bundle["entries"]
    assert entries[0]["event"] == "submitted"
    assert entries[-1]["seq"] == bundle["checkpoint"]["seq"] == report.checkpoint_seq
    assert report.entries_checked == len(entries)
    assert {e["operation_id"] for e in entries} > {bundle["operation_id"]}, "others' entries"
    operation = bundle["operation"]
    assert operation["status"] == report.status == "completed"
    assert [a["approver"] for a in operation["approvals"]] == ["bob"]
    assert operation["plan"]["steps"][0]["preview"]["summary"]
    assert operation["validation_result"]["findings"], "the checks, before and after"
    assert operation["steps"][0]["status"] == "succeeded"


async def test_an_edited_entry_detail_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    at = entry_index(bundle, "approval")
    bundle["entries"][at]["details"]["authority"] = "crown"

    report = checked(bundle, key)

    seq = bundle["entries"][at]["seq"]
    assert f"entry {seq} (approval): its content does not match its hash (edited)" in [
        f.problem for f in report.findings
    ]
    assert not report.ok


async def test_a_removed_entry_is_named(bundle: dict[str, Any], key: Ed25519PrivateKey) -> None:
    at = entry_index(bundle, "approval")
    removed = bundle["entries"].pop(at)

    report = checked(bundle, key)

    assert "entry_missing" in codes(report)
    assert f"entries {removed['seq']} to {removed['seq']} are missing" in str(report.findings)
    assert "approval" in codes(report), "the record's approval has no entry left"


async def test_a_reordered_entry_is_named(bundle: dict[str, Any], key: Ed25519PrivateKey) -> None:
    entries = bundle["entries"]
    entries[2], entries[3] = entries[3], entries[2]

    assert "entry_order" in codes(checked(bundle, key))


async def test_reordered_entries_renumbered_and_rehashed_do_not_reach_the_signed_head(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    """The attacker renumbers the swapped entries and recomputes every hash after them."""
    entries = bundle["entries"]
    entries[2], entries[3] = entries[3], entries[2]
    prev = entries[2]["prev_hash"] = entries[1]["hash"]
    for seq, entry in enumerate(entries[2:], start=entries[1]["seq"] + 1):
        entry["seq"], entry["prev_hash"] = seq, prev
        body = {k: entry[k] for k in entry if k not in ("prev_hash", "hash")}
        entry["hash"] = prev = link_hash(prev, body)

    report = checked(bundle, key)

    assert codes(report) == ["not_signed"], report.findings


async def test_a_changed_plan_in_the_record_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    bundle["operation"]["plan"]["rollback_plan"] = "none needed"

    report = checked(bundle, key)

    assert set(codes(report)) == {"plan"}
    assert any("the ledger's plan entry says" in f.problem for f in report.findings)


async def test_a_forged_approval_is_named(bundle: dict[str, Any], key: Ed25519PrivateKey) -> None:
    approvals = bundle["operation"]["approvals"]
    approvals.append({**approvals[0], "approver": "mallory", "authority": "crown"})

    report = checked(bundle, key)

    assert [str(f) for f in report.findings] == [
        f"approval: approval by mallory (crown, plan {approvals[0]['plan_hash'][:12]}…) "
        "is in the record but not in the ledger (forged)"
    ]


async def test_a_status_that_is_not_the_last_transition_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    bundle["operation"]["status"] = "failed"

    assert codes(checked(bundle, key)) == ["status"]


async def test_a_checkpoint_signed_by_another_key_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    head = bundle["checkpoint"]
    other = sign_checkpoint(Ed25519PrivateKey.generate(), seq=head["seq"], hash=head["hash"])
    bundle["checkpoint"] = json.loads(other.model_dump_json())

    report = checked(bundle, key)

    assert codes(report) == ["signature"]
    assert "signed by an unknown key" in report.findings[0].problem


async def test_a_forged_signature_under_the_right_key_id_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    bundle["checkpoint"]["seq"] -= 1  # claim the signed head was earlier

    report = checked(bundle, key)

    assert "signature" in codes(report) and "not_signed" in codes(report)


async def test_a_segment_that_does_not_reach_the_signed_head_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    del bundle["entries"][-2:]

    report = checked(bundle, key)

    assert codes(report) == ["not_signed"]
    assert "it does not reach the signed head" in report.findings[0].problem


async def test_a_segment_cut_at_its_start_is_named(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    del bundle["entries"][0]

    assert "segment_start" in codes(checked(bundle, key))


async def test_a_ledger_rewritten_before_export_does_not_reach_the_signed_head(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    """The attacker edits an approval in the database and recomputes every later hash."""
    operation_id = await completed_and_approved(runtime)
    await sign(runtime, key, log_path)
    async with runtime.session() as session:
        rows = (
            (await session.execute(LedgerRow.__table__.select().order_by(LedgerRow.seq)))
            .mappings()
            .all()
        )
        prev = None
        for row in rows:
            forged = dict(row)
            if forged["event"] == "approval":
                forged["actor"] = "mallory"
                prev = forged["prev_hash"]
            if prev is None:
                continue
            forged["prev_hash"] = prev
            body = {
                k: forged[k]
                for k in ("seq", "actor", "event", "operation_id", "from_status", "to_status")
            } | {"at": forged["at"].isoformat(), "details": forged["details"]}
            forged["hash"] = prev = link_hash(prev, body)
            await session.execute(
                update(LedgerRow)
                .where(LedgerRow.seq == forged["seq"])
                .values(actor=forged["actor"], prev_hash=forged["prev_hash"], hash=forged["hash"])
            )
        await session.commit()

    made = await export(runtime, operation_id, key, log_path)
    report = check_bundle(made, key.public_key())

    assert "not_signed" in codes(report)
    assert "approval" in codes(report), "the record's approval by bob is not mallory's"


async def test_export_refuses_an_operation_no_checkpoint_covers_yet(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    await sign(runtime, key, log_path)
    op = await submit(runtime, request())

    with pytest.raises(Conflict, match="no signed checkpoint covers entry"):
        await export(runtime, op.operation_id, key, log_path)
    with pytest.raises(NotFound):
        await export(runtime, "op-nosuch", key, log_path)


async def test_export_passes_over_heads_another_key_signed_and_lines_that_are_none(
    runtime: Runtime, key: Ed25519PrivateKey, log_path: Path
) -> None:
    """The lowest covering head signed by the verifier's key is chosen, whatever else is there."""
    operation_id = await completed_and_approved(runtime)
    async with runtime.session(read_only=True) as session:
        seq, digest = await store.head(session)
    foreign = sign_checkpoint(Ed25519PrivateKey.generate(), seq=seq, hash=digest)
    log_path.parent.mkdir(parents=True)
    log_path.write_text(f"{foreign.model_dump_json()}\nnot a checkpoint\n")
    with pytest.raises(Conflict, match="the log's newest is"):
        await export(runtime, operation_id, key, log_path)
    ours = await sign(runtime, key, log_path)

    made = await export(runtime, operation_id, key, log_path)

    assert made.checkpoint.seq == ours and made.checkpoint.key_id != foreign.key_id
    assert check_bundle(made, key.public_key()).ok


async def test_a_float_the_ledger_holds_as_nan_or_infinity_keeps_its_hash_in_the_file(
    bundle: dict[str, Any], key: Ed25519PrivateKey
) -> None:
    """SQLite keeps NaN in JSON text; the bundle must write it back as json does, not null."""
    entries = bundle["entries"]
    entries[1]["details"]["odd"] = [float("nan"), float("inf"), -float("inf"), 1e-7]
    prev = entries[1]["prev_hash"]
    for entry in entries[1:]:
        entry["prev_hash"] = prev
        body = {k: entry[k] for k in entry if k not in ("prev_hash", "hash")}
        entry["hash"] = prev = link_hash(prev, body)
    bundle["checkpoint"] = json.loads(
        sign_checkpoint(key, seq=entries[-1]["seq"], hash=prev).model_dump_json()
    )
    made = EvidenceBundle.model_validate_json(json.dumps(bundle))

    report = check_bundle(
        EvidenceBundle.model_validate_json(made.model_dump_json()), key.public_key()
    )

    assert report.findings == []


@pytest.mark.parametrize(
    ("steps", "ends"),
    [
        ([("noop", {}), ("noop", {"fail": True})], "rolled_back"),
        ([("database.purge_audit_logs", {})], "awaiting_approval"),
    ],
    ids=["rolled-back", "awaiting-approval"],
)
async def test_operations_that_did_not_complete_verify_as_they_ended(
    runtime: Runtime,
    key: Ed25519PrivateKey,
    log_path: Path,
    steps: list[tuple[str, dict[str, Any]]],
    ends: str,
) -> None:
    systems = ["a", "b", "c", "d"] if ends == "awaiting_approval" else []
    op = await submit(runtime, request(steps, affected_systems=systems))
    await drive_once(runtime.powers, owner="w")
    await sign(runtime, key, log_path)

    made = await export(runtime, op.operation_id, key, log_path)
    report = check_bundle(made, key.public_key())

    assert (report.status, report.findings) == (ends, [])
