"""The ledger events of standard changes: each run counted, each proposal and decision.

Every event carries the record as it is after it, so the stored row of a plan is the
fold of its last event (``constitution.ledger.standard_compare``): a record edited,
added or deleted outside these writers is named by ``triad audit verify``.
"""

from __future__ import annotations

from typing import Literal

from triadops.domain.events.base import LedgerEvent


class StandardEvent(LedgerEvent):
    """A plan's success record or standing changed; the fields are the record after it."""

    plan_hash: str
    subject: str
    standing: str
    streak: int
    successes: int
    failures: int


class StandardOutcome(StandardEvent):
    """A run of the plan ended: validated, failed or rolled back."""

    kind: Literal["standard_outcome"] = "standard_outcome"
    operation: str
    outcome: str


class StandardProposed(StandardEvent):
    """The plan passed validation `threshold` times in a row: proposed to the legislature."""

    kind: Literal["standard_proposed"] = "standard_proposed"
    threshold: int


class StandardGranted(StandardEvent):
    """A legislative identity (the entry's actor) pre-approved the plan."""

    kind: Literal["standard_granted"] = "standard_granted"
    reason: str | None = None
    """Left out when the legislator gave none."""


class StandardDeclined(StandardEvent):
    """A legislative identity (the entry's actor) declined to pre-approve the plan."""

    kind: Literal["standard_declined"] = "standard_declined"
    reason: str | None = None


class StandardRevoked(StandardEvent):
    """The plan lost its standing: a run failed or rolled back, or a person revoked it."""

    kind: Literal["standard_revoked"] = "standard_revoked"
    reason: str
    operation: str | None = None
    """The run that failed; left out when a person revoked it."""
