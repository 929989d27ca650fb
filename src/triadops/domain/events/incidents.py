"""The ledger event of troubleshooting: an incident report, recorded by the crown."""

from __future__ import annotations

from typing import Literal

from triadops.domain.events.base import LedgerEvent


class IncidentRecorded(LedgerEvent):
    """An incident report was stored (SOP-002's post-incident review), as the crown keeps it.

    Recorded in the transaction that stores the report, each time it is stored: the digest
    is the report's, so a report edited afterwards no longer matches its last entry.
    """

    kind: Literal["incident_recorded"] = "incident_recorded"
    incident: str
    runbook: str
    status: str
    digest: str
    """The sha256 of the stored report's canonical JSON."""
