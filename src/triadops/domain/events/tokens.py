"""The ledger events of the crown's records: principals, tokens, freezes, refusals."""

from __future__ import annotations

import hashlib
from typing import ClassVar, Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent


def fingerprint(token_hash: str) -> str:
    """Return what the ledger keeps of a token's stored hash: enough to detect a swap."""
    return hashlib.sha256(f"triadops-token:{token_hash}".encode()).hexdigest()[:32]


class PrincipalCreated(LedgerEvent):
    """A principal (a person or a service) was created."""

    kind: Literal["principal_created"] = "principal_created"
    RENAMED: ClassVar[dict[str, str]] = {"principal_kind": "kind"}
    name: str
    principal_kind: str
    """Stored as the detail ``kind`` (the model's ``kind`` is the event's)."""


class TokenCreated(LedgerEvent):
    """A token was issued to a principal, with roles; only its hash's fingerprint is kept."""

    kind: Literal["token_created"] = "token_created"
    name: str
    principal: str
    roles: list[JsonValue]
    fingerprint: str


class TokenRevoked(LedgerEvent):
    """A token was revoked."""

    kind: Literal["token_revoked"] = "token_revoked"
    name: str
