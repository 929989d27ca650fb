"""The ledger events of the crown's state, its refusals, governance and checkpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent


class Freeze(LedgerEvent):
    """The crown froze all work."""

    kind: Literal["freeze"] = "freeze"
    reason: str


class Unfreeze(LedgerEvent):
    """The crown lifted the freeze; the details say whose it was, and why."""

    kind: Literal["unfreeze"] = "unfreeze"
    frozen_by: str | None
    reason: str | None


class Refused(LedgerEvent):
    """A governance action was refused: who tried what, and why (it changed nothing)."""

    kind: Literal["refused"] = "refused"
    action: str
    reason: str
    operation: str | None = None
    """The operation it named, if any (it may not exist; the entry is filed under none)."""


class GovernanceSet(LedgerEvent):
    """The governing settings every writer must share were stored."""

    kind: Literal["governance_set"] = "governance_set"
    hash: str
    settings: dict[str, JsonValue]
    set_by: str


class CheckpointSigned(LedgerEvent):
    """A signed checkpoint of the head was appended to the log outside the database."""

    kind: Literal["checkpoint_signed"] = "checkpoint_signed"
    seq: int
    hash: str
    key_id: str
