"""Entries of the crown's hash-chained ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

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


DiscrepancyKind = Literal[
    "operation",
    "step",
    "approval",
    "token",
    "principal",
    "crown",
    "alert",
    "silence",
    "alert_group",
    "notification",
    "governance",
    "backup",
    "maintenance_task",
    "incident",
    "standard_change",
]


class Discrepancy(BaseModel):
    """A stored record that disagrees with what the ledger says happened."""

    kind: DiscrepancyKind
    subject: str
    """The thing, named as a person would look for it: ``operation op-1``, ``step 0 of op-1``,
    ``approval of op-1 by bob (legislative, plan 3f2a…)``, ``token ci``, ``crown``,
    ``alert 42``, ``silence 0190…``."""
    problem: str
    """What disagrees: the stored value and what the ledger says instead."""

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


class VerifyReport(BaseModel):
    """The outcome of walking the chain and, when replayed, comparing the stored state."""

    ok: bool
    """False when the chain is broken or any stored record disagrees with it."""
    entries_checked: int
    first_bad_seq: int | None = None
    """The first entry that breaks the chain (None when the chain is intact)."""
    problem: str | None = None
    """Why the chain breaks at `first_bad_seq`."""
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    """Every operation, step, approval, token and crown switch that disagrees with the replay."""
    operations_checked: int | None = None
    """Stored operations compared with the replay (None: the state was not compared)."""
    tokens_checked: int | None = None
    """Stored tokens compared with the replay (None: the state was not compared)."""

    @property
    def chain_intact(self) -> bool:
        """True when every link fits and the head points at the last one."""
        return self.problem is None
