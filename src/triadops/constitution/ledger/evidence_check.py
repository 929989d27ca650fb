"""Check an evidence bundle offline, with the public key alone: no database, no server.

What a clean report proves: the checkpoint was signed by the key; every entry of the
segment hashes to its stored hash over the one before it, with no seq missing or out of
order, ending exactly at the signed head, so no entry was edited, removed, inserted or
reordered since the head was signed; the segment starts at the operation's submission; the
operation's entries follow the lifecycle (the same folds ``triad audit verify`` replays);
and the record agrees with them: its plan hashes to the plan entry's hash, its approvals
are the approval entries, its steps are in the states and hold the actions and parameters
the plan bound, its status is the last transition's, and its acknowledgement and review are
the recorded ones.

What it cannot prove: what the ledger does not carry (step outputs, check measurements,
previews, the agents' answers in the record) is shown, not proven; and a key holder can sign
any head, so the key must be kept from the database's writers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from triadops.constitution.ledger.folds import OPERATION_READERS, LedgerState, OperationState
from triadops.constitution.ledger.signing import signature_problem
from triadops.domain.chain import canonical_json, link_hash, plan_hash
from triadops.domain.checkpoints import iso_utc
from triadops.domain.evidence import (
    EvidenceBundle,
    EvidenceEntry,
    EvidenceFinding,
    EvidenceReport,
    FindingCode,
)
from triadops.domain.operations import Operation, definition_at, step_binding


class _Findings(list[EvidenceFinding]):
    def say(self, code: FindingCode, problem: str) -> None:
        self.append(EvidenceFinding(code=code, problem=problem))


def _short(digest: object) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and digest else "none"


def check_bundle(bundle: EvidenceBundle, public_key: Ed25519PublicKey) -> EvidenceReport:
    """Check `bundle` against `public_key`; name every finding, in the order found."""
    found = _Findings()
    signed = bundle.checkpoint
    bad = signature_problem(signed, public_key)
    if bad is not None:
        found.say("signature", f"checkpoint {signed.seq} at {iso_utc(signed.at)}: {bad}")
    checked = _check_chain(bundle.entries, found)
    _check_end(bundle.entries, bundle, found)
    own = [e for e in bundle.entries if e.operation_id == bundle.operation_id]
    _check_start(bundle, own, found)
    op = _fold(own, found)
    _check_record(bundle.operation, bundle.operation_id, op, found)
    return EvidenceReport(
        ok=not found,
        operation_id=bundle.operation_id,
        status=bundle.operation.status.value,
        entries_checked=checked,
        operation_entries=len(own),
        first_seq=bundle.entries[0].seq,
        checkpoint_seq=signed.seq,
        key_id=signed.key_id,
        findings=list(found),
    )


def _check_chain(entries: list[EvidenceEntry], found: _Findings) -> int:
    """Recompute each entry's hash; name gaps, disorder, broken links and edits."""
    checked = 0
    before: EvidenceEntry | None = None
    for entry in entries:
        if before is not None:
            expected = before.seq + 1
            if entry.seq > expected:
                found.say(
                    "entry_missing",
                    f"entries {expected} to {entry.seq - 1} are missing between entry "
                    f"{before.seq} and entry {entry.seq} (removed)",
                )
            elif entry.seq < expected:
                found.say(
                    "entry_order",
                    f"entry {entry.seq} comes after entry {before.seq} (reordered or repeated)",
                )
            elif entry.prev_hash != before.hash:
                found.say(
                    "chain_broken",
                    f"entry {entry.seq}: its prev_hash is not entry {before.seq}'s hash "
                    "(inserted or replaced)",
                )
        if _digest(entry) == entry.hash:
            checked += 1
        else:
            found.say(
                "entry_edited",
                f"entry {entry.seq} ({entry.event}): its content does not match its hash (edited)",
            )
        before = entry
    return checked


def _digest(entry: EvidenceEntry) -> str | None:
    try:
        return link_hash(entry.prev_hash, entry.body())
    except (UnicodeEncodeError, ValueError, RecursionError):
        return None  # no writer could have hashed it (a lone surrogate, a cycle)


def _check_end(entries: list[EvidenceEntry], bundle: EvidenceBundle, found: _Findings) -> None:
    """The segment must end exactly at the signed head."""
    last, signed = entries[-1], bundle.checkpoint
    if last.seq != signed.seq:
        found.say(
            "not_signed",
            f"the segment ends at entry {last.seq} but the checkpoint signs entry {signed.seq}: "
            "it does not reach the signed head",
        )
    elif last.hash != signed.hash:
        found.say(
            "not_signed",
            f"entry {last.seq}'s hash {_short(last.hash)} is not the one the checkpoint "
            f"signed ({_short(signed.hash)}): the segment was rewritten",
        )


def _check_start(bundle: EvidenceBundle, own: list[EvidenceEntry], found: _Findings) -> None:
    """The segment must start at the operation's submission, or entries before are unseen."""
    first = bundle.entries[0]
    if not own or own[0] is not first or first.event != "submitted":
        found.say(
            "segment_start",
            f"the segment starts at entry {first.seq} ({first.event} of "
            f"{first.operation_id or 'no subject'}), not at the submission of "
            f"{bundle.operation_id}",
        )


def _fold(own: list[EvidenceEntry], found: _Findings) -> OperationState:
    """Replay the operation's entries with the audit's folds; name what breaks its rules."""
    state, op = LedgerState(), OperationState()
    for entry in own:
        reader = OPERATION_READERS.get(entry.event)
        if reader is None:
            continue
        link: Any = (
            entry.seq,
            entry.at,
            entry.actor,
            entry.event,
            entry.operation_id,
            entry.from_status,
            entry.to_status,
        )
        details = dict(entry.details) if isinstance(entry.details, dict) else {}
        reader.fold(state, op, reader.event(link, details), link)
    for discrepancy in state.found:
        found.say("ledger_rule", str(discrepancy))
    return op


def _check_record(
    record: Operation, operation_id: str, op: OperationState, found: _Findings
) -> None:
    """Hold the bundle's record to what the operation's entries say."""
    if record.operation_id != operation_id:
        found.say("operation", f"the record is of {record.operation_id}, not {operation_id}")
    if op.requested_by is not None and record.request.requested_by != op.requested_by:
        found.say(
            "operation",
            f"the record's requester is {record.request.requested_by} but the ledger's "
            f"submission is by {op.requested_by}",
        )
    if record.status.value != op.status:
        found.say(
            "status",
            f"the record says {record.status.value} but the ledger's last transition is to "
            f"{op.status}",
        )
    _check_plan(record, op, found)
    _check_approvals(record, op, found)
    _check_steps(record, op, found)
    _check_crown(record, op, found)


def _check_plan(record: Operation, op: OperationState, found: _Findings) -> None:
    recorded = op.plan_hash
    if record.plan is None:
        if isinstance(recorded, str):
            found.say("plan", f"the ledger records plan {_short(recorded)}; the record has none")
        return
    digest = plan_hash(record.plan.binding())
    if record.plan_hash != digest:
        found.say(
            "plan",
            f"the record's plan hashes to {_short(digest)}, not to its plan_hash "
            f"{_short(record.plan_hash)}",
        )
    if recorded is None:
        found.say("plan", "the record has a plan but the ledger records none")
    elif isinstance(recorded, str) and digest != recorded:
        found.say(
            "plan",
            f"the record's plan hashes to {_short(digest)} but the ledger's plan entry "
            f"says {_short(recorded)} (changed)",
        )


def _check_approvals(record: Operation, op: OperationState, found: _Findings) -> None:
    said = Counter(op.approvals)
    held: Counter[tuple[str, str | None, str | None]] = Counter(
        (a.approver, a.authority.value, a.plan_hash) for a in record.approvals
    )
    for problem, extra in (
        ("is in the record but not in the ledger (forged)", held - said),
        ("is in the ledger but not in the record (hidden)", said - held),
    ):
        for (approver, authority, digest), count in extra.items():
            for _ in range(count):
                found.say(
                    "approval",
                    f"approval by {approver} ({authority}, plan {_short(digest)}) {problem}",
                )


def _check_steps(record: Operation, op: OperationState, found: _Findings) -> None:
    if op.plan_steps is None:
        return
    indexes = [s.index for s in record.steps]
    if sorted(indexes) != list(range(op.plan_steps)):
        found.say(
            "step",
            f"the record holds steps {indexes} but the ledger's plan has {op.plan_steps}",
        )
    planned = record.plan.binding()["steps"] if record.plan is not None else []
    for step in record.steps:
        said = op.steps.get(step.index)
        if isinstance(said, str) and step.status.value != said:
            found.say(
                "step",
                f"step {step.index}: the record says {step.status.value}, the ledger {said}",
            )
        ran = step_binding(step.action, step.params, definition_at(planned, step.index))
        if step.index < len(planned) and canonical_json(ran) != canonical_json(planned[step.index]):
            found.say(
                "step",
                f"step {step.index}: its action or parameters are not the plan's",
            )


def _check_crown(record: Operation, op: OperationState, found: _Findings) -> None:
    if record.acknowledged_by != op.acknowledged_by:
        found.say(
            "operation",
            f"the record's acknowledgement is by {record.acknowledged_by or 'nobody'}, the "
            f"ledger's by {op.acknowledged_by or 'nobody'}",
        )
    review = record.review
    held = None if review is None else (review.reviewed_by, review.lessons, review.note)
    if held != op.review:
        found.say("operation", "the record's post-change review is not the ledger's")
