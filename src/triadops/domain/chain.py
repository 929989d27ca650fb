"""Canonical JSON and the hash that links one ledger entry to the one before it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Serialise with sorted keys and no spaces, so equal data gives equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """Return sha256 over the previous hash and the entry's canonical JSON."""
    return hashlib.sha256((prev_hash + canonical_json(body)).encode()).hexdigest()


def plan_hash(binding: dict[str, Any]) -> str:
    """Return the sha256 an approval is bound to."""
    return hashlib.sha256(canonical_json(binding).encode()).hexdigest()
