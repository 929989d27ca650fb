"""Incident reports held against the crown's record of them (``incident_recorded``).

A stored report must be the one its last entry recorded (same digest), every report must
be recorded, and every recorded incident must still be stored: a report edited, added or
deleted outside troubleshooting is named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from triadops.constitution.ledger.folds import LedgerState
from triadops.domain.runbooks import report_digest


def compare_incidents(state: LedgerState, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Name every incident whose stored report disagrees with the ledger."""
    recorded = dict(state.incidents)
    for incident_id, report in rows:
        subject = f"incident {incident_id}"
        digest = recorded.pop(incident_id, None)
        if digest is None:
            state.say("incident", subject, "is stored but the ledger does not record it")
        elif report_digest(report) != digest:
            state.say("incident", subject, "report differs from the one the crown recorded")
    for incident_id in sorted(recorded):
        state.say("incident", f"incident {incident_id}", "is recorded in the ledger but not stored")
