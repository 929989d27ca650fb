"""What the monitor's leader runs for standard changes: proposals reach the legislature.

A proposal is a question for a legislator, so each open one is an info alert
(``TriadStandardChangeProposed``, labelled with the plan's short hash), which the
escalation routes to the legislature; it resolves by itself once the plan is granted,
declined or revoked. One alert per plan, however many passes see it.
"""

from __future__ import annotations

from datetime import datetime

from triadops.constitution import lifecycle
from triadops.constitution.powers import Powers
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.standards import StandardChange, Standing
from triadops.ops.alerts import service
from triadops.storage.standards import list_standards

SOURCE = "standards"
ALERT = "TriadStandardChangeProposed"
MAX_OPEN = 100
"""Proposals raised at once; more wait for the next pass (decided ones leave room)."""


def proposal_alert(proposed: StandardChange) -> AlertIn:
    """The info alert that asks the legislature to decide one proposal."""
    short = proposed.plan_hash[:12]
    return AlertIn(
        labels={"alertname": ALERT, "plan": short, "source": SOURCE},
        annotations={
            "summary": f"{proposed.subject} passed validation {proposed.streak} times in a "
            "row: grant it as a standard change, or decline it",
            "description": f"triad standards show {short}; triad standards grant {short} "
            f"(or decline {short} --reason ...)",
        },
        severity=Severity.INFO,
    )


async def follow_proposals(powers: Powers, *, now: datetime) -> int:
    """Raise an alert per open proposal and resolve those of decided ones; return how many."""
    async with powers.reading() as session:
        proposed = await list_standards(session, standing=Standing.PROPOSED, limit=MAX_OPEN)
    raised = [proposal_alert(p) for p in proposed]
    async with powers.sessions() as session:
        if raised:
            await service.ingest(
                session, raised, source=SOURCE, now=now, settings=powers.settings.alerts
            )
        present = {alert.fingerprint for alert in raised}
        await service.auto_resolve(session, source=SOURCE, present=present, now=now)
        await lifecycle.commit(session)
    return len(raised)
