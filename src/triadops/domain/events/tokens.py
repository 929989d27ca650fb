"""The ledger events of principals and tokens."""

from __future__ import annotations

import hashlib


def fingerprint(token_hash: str) -> str:
    """Return what the ledger keeps of a token's stored hash: enough to detect a swap."""
    return hashlib.sha256(f"triadops-token:{token_hash}".encode()).hexdigest()[:32]
