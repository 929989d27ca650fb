"""The ledger, shared by all four branches: its chain, its replay and its checkpoints.

``chain`` links entries into the hash chain (``record`` in a transaction, ``flush`` as it
commits) and walks it; ``audit`` replays it against the stored rows (``triad audit
verify``), with ``alert_audit`` and ``notification_audit`` for alerts and deliveries;
``checkpoints`` signs its head into a log outside the database. The chain's functions are
re-exported here, so ``ledger.record(...)`` reads as it always has.
"""

from triadops.constitution.ledger.chain import (
    ChainWalk,
    Pacer,
    discard_after,
    flush,
    linked_in,
    pending,
    pending_mark,
    queued,
    record,
    to_entry,
    verify,
)
from triadops.domain.ledger import LedgerEntry, VerifyReport

__all__ = [
    "ChainWalk",
    "LedgerEntry",
    "Pacer",
    "VerifyReport",
    "discard_after",
    "flush",
    "linked_in",
    "pending",
    "pending_mark",
    "queued",
    "record",
    "to_entry",
    "verify",
]
