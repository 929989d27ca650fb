"""The ledger, shared by all four branches: its chain, its replay and its checkpoints.

``chain`` links entries into the hash chain (``record`` in a transaction, ``flush`` as it
commits) and walks it; ``audit`` folds it and compares the folded state with the stored
rows (``triad audit verify``): ``folds`` and ``compare`` for operations, tokens, principals
and the crown, ``alert_audit``, ``notification_audit`` and ``alert_compare`` for alerts,
silences, groups and deliveries; ``checkpoints`` signs its head into a log outside the
database. The chain's functions are
re-exported here, so ``ledger.record(...)`` reads as it always has.
"""

from triadops.constitution.ledger.chain import (
    ChainWalk,
    Pacer,
    discard_after,
    flush,
    linked_in,
    linked_mark,
    log_linked,
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
    "linked_mark",
    "log_linked",
    "pending",
    "pending_mark",
    "queued",
    "record",
    "to_entry",
    "verify",
]
