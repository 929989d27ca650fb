"""Entries of the crown's hash-chained ledger."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, JsonValue


class LedgerEntry(BaseModel):
    """One appended fact: who moved which operation from where to where, and why."""

    seq: int
    at: datetime
    actor: str
    event: str
    """What happened, such as ``transition``, ``approval``, ``freeze`` or ``step``."""
    operation_id: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)
    prev_hash: str
    hash: str


class VerifyReport(BaseModel):
    """The outcome of walking the chain."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
