"""Standard changes: a plan that keeps passing validation, pre-approved by the legislature.

ServiceNow's standard change, kept as a record per plan: the plan's hash is what was
validated, so the record is the exact steps, parameters, systems, rollback plan and
criteria that passed, never "any run of this procedure". A plan that passed validation
``propose_after`` times in a row without a failure or a rollback is proposed to the
legislature; a legislative identity who grants it pre-approves that exact plan, and its
next runs need no one's approval but the grant. One failure later, it loses that standing.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from triadops.domain.principals import PrincipalName


class Standing(StrEnum):
    """Where a plan stands with the legislature."""

    NONE = "none"
    """A success record, not (yet) proposed."""
    PROPOSED = "proposed"
    """Validated often enough in a row: waiting for a legislative identity to decide."""
    STANDARD = "standard"
    """Granted: its runs are pre-approved by the legislative identity who granted it."""
    DECLINED = "declined"
    """A legislative identity said no: its runs keep needing approval."""
    REVOKED = "revoked"
    """It failed or rolled back after it was proposed or granted (or a person revoked it)."""


class Outcome(StrEnum):
    """How one run of a plan ended, as the success record counts it."""

    VALIDATED = "validated"
    """Completed: the judiciary validated it."""
    FAILED = "failed"
    """Failed, in any stage: refused to run, a step failed, or validation failed (a
    rollback, when there is one, always follows a failure, so it is counted once)."""


class StandardChange(BaseModel):
    """One plan's success record and standing (the stored row, read back)."""

    plan_hash: str
    subject: str
    """What the plan is, for people: ``procedure:database_optimization``, or its actions."""
    standing: Standing
    streak: int = Field(ge=0)
    """Validated runs in a row since its last failure or rollback."""
    successes: int = Field(ge=0)
    failures: int = Field(ge=0)
    last_operation_id: str | None = None
    last_outcome: Outcome | None = None
    last_at: datetime | None = None
    proposed_at: datetime | None = None
    decided_by: PrincipalName | None = None
    """The legislative identity who granted, declined or revoked it (None: the rules did)."""
    decided_at: datetime | None = None
    reason: str | None = None
    """Why it was declined or revoked."""

    @property
    def pre_approved(self) -> bool:
        """Whether its runs are pre-approved now."""
        return self.standing is Standing.STANDARD and self.decided_by is not None


class Decision(StrEnum):
    """What a legislative identity may decide about a plan's standing."""

    GRANT = "grant"
    DECLINE = "decline"
    REVOKE = "revoke"


def subject_of_resolution(procedure: str | None, action: str | None) -> str:
    """The record subject a runbook's resolution runs under: its procedure, or its action."""
    return f"procedure:{procedure}" if procedure else f"steps:{action}"


class ResolutionRecord(BaseModel):
    """One resolution of a runbook: the records of the plans it ran as."""

    resolution: str
    subject: str
    plans: list[StandardChange]
    """Each plan it ran as (other parameters make another plan), most recent first."""


class RunbookRecord(BaseModel):
    """A runbook's success record: how its incidents ended, and its resolutions' plans."""

    runbook: str
    incidents: dict[str, int]
    """Incidents by status (resolved, unresolved, no_symptoms, resolving, diagnosed)."""
    resolutions: list[ResolutionRecord]
