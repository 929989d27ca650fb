"""An operation's evidence bundle: its record and the signed ledger segment that proves it.

One JSON document, so an auditor reads it with any tool and checks it with the public key
alone (``triad evidence verify``). The chain is linear, so the proof of an entry is every
entry from it to a signed head: the segment runs from the operation's submission to the
first checkpoint at or after its last entry, other subjects' entries included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.domain.checkpoints import Checkpoint
from triadops.domain.operations import Operation

EVIDENCE_FORMAT: Final = "triadops-evidence-v1"
"""The bundle's ``format``; a new layout gets a new version, never a reuse."""

SUMMARY_HEADER: Final = "Triad-Evidence-Summary"
"""The API's header beside a streamed bundle: its summary in JSON (operation_id, status,
first_seq, checkpoint_seq, entries, key_id, signed_at), so a client need not parse the bundle."""
SUMMARY_FIELDS: Final = frozenset(
    {"operation_id", "status", "first_seq", "checkpoint_seq", "entries", "key_id", "signed_at"}
)
"""What the summary header names: the CLI prints each, so a server's answer lacking one is
refused in a line, not a traceback."""


class EvidenceEntry(BaseModel):
    """One ledger entry as its hash covers it: the body, and the links either side."""

    # NaN and infinities written as json writes them (not null), so they hash as stored.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    seq: int
    at: str
    """Exactly the text the hash covers (ISO 8601, UTC)."""
    actor: str
    event: str
    operation_id: str | None
    from_status: str | None
    to_status: str | None
    details: JsonValue
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """Return the fields the entry's hash covers, as the ledger hashed them."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "event": self.event,
            "operation_id": self.operation_id,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "details": self.details,
        }


class EvidenceHead(BaseModel):
    """A bundle's small fields: what a streamed bundle writes before its ``entries``."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    format: Literal["triadops-evidence-v1"] = EVIDENCE_FORMAT
    operation_id: str
    exported_at: datetime
    operation: Operation
    """The record in full: request, plan with its dry-run previews and hash, approvals,
    step records, the judiciary's checks before and after, the agents' reports."""
    checkpoint: Checkpoint
    """The signed head the segment ends at."""


class EvidenceBundle(EvidenceHead):
    """What ``triad evidence`` writes: the operation's record and the proof of its entries."""

    entries: list[EvidenceEntry] = Field(min_length=1)
    """Every entry from the operation's submission to `checkpoint.seq`, in seq order."""


FindingCode = Literal[
    "signature",
    "entry_edited",
    "entry_missing",
    "entry_order",
    "chain_broken",
    "not_signed",
    "segment_start",
    "ledger_rule",
    "operation",
    "status",
    "plan",
    "approval",
    "step",
]


class EvidenceFinding(BaseModel):
    """One thing a bundle does not prove: a code to match on, and what was found."""

    code: FindingCode
    problem: str

    def __str__(self) -> str:
        return f"{self.code}: {self.problem}"


class EvidenceReport(BaseModel):
    """The outcome of checking a bundle offline."""

    ok: bool
    operation_id: str
    status: str
    """The operation's status in the record."""
    entries_checked: int
    """Entries whose hash was recomputed and matched."""
    operation_entries: int
    """The operation's own entries in the segment."""
    first_seq: int
    checkpoint_seq: int
    key_id: str
    findings: list[EvidenceFinding] = Field(default_factory=list)
