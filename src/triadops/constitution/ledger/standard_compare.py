"""Standard changes held against the ledger: each plan's record is its last entry's.

A record's standing is a power: a plan stored as ``standard`` is pre-approved. So a row
edited to ``standard`` (or to a longer streak, or to another decider), added without an
entry, or deleted after one, is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from triadops.constitution.ledger.folds import LedgerState


def compare_standards(state: LedgerState, rows: Sequence[dict[str, Any]]) -> None:
    """Name every stored standard change whose record disagrees with the ledger."""
    said = dict(state.standards)
    for row in rows:
        plan = str(row["plan_hash"])
        subject = f"standard change {plan[:12]}…"
        recorded = said.pop(plan, None)
        if recorded is None:
            state.say("standard_change", subject, "is stored but the ledger does not record it")
            continue
        for name, value in recorded.items():
            if row.get(name) != value:
                state.say(
                    "standard_change",
                    subject,
                    f"{name} is {row.get(name)!r} but the ledger says {value!r}",
                )
    for plan in sorted(said):
        state.say(
            "standard_change",
            f"standard change {plan[:12]}…",
            "is recorded in the ledger but not stored",
        )
