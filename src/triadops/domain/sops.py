"""Standard operating procedures: what a type of operation must carry, as data.

An SOP maps the seed's phases to the branches: which authorities may request an operation
of the types it governs, which approvals it needs at least (the risk rules may add more,
never fewer), which checks must be among its validation criteria, what it must name
(affected systems, a rollback plan), and whether the crown owes it a post-change review.
The templates are files (``constitution/sops/``); this is their shape, with no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.operations import Lessons, Reason

SopId = Annotated[str, Field(pattern=r"^SOP-[0-9]{3}$")]
SopName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
CriterionPattern = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_-]+|\.\*)?$", max_length=100)
]
"""A check's name (``system_functionality_maintained``, ``http_probe.site``), or a family
of them (``http_probe.*``: any name that starts with ``http_probe.``)."""

REVIEWABLE = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.ROLLED_BACK)
"""Where a change has ended and can be reviewed: it ran, or tried to."""
REVIEW_DUE = (OperationStatus.COMPLETED, OperationStatus.ROLLED_BACK)
"""Where an SOP that asks for a review finds it due: the change took effect, or was undone."""


def criterion_matches(pattern: str, name: str) -> bool:
    """True when the criterion `name` is `pattern`, or of its family (``prefix.*``)."""
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1]) and len(name) > len(pattern) - 1
    return name == pattern


class Phase(BaseModel):
    """One phase of the procedure and the branch that owns it."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: Line
    branch: Authority
    duties: list[Line] = Field(default_factory=list, max_length=30)


class CriterionRequirement(BaseModel):
    """A check that must be among the validation criteria: any one of `any_of`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    what: Line
    """What it is, in words (``a functional probe``), for the refusal."""
    any_of: list[CriterionPattern] = Field(min_length=1, max_length=20)

    def met_by(self, criteria: list[str]) -> bool:
        """True when one of `criteria` is one this requirement accepts."""
        return any(criterion_matches(p, c) for p in self.any_of for c in criteria)


class Sop(BaseModel):
    """A standard operating procedure, as its template says."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    id: SopId
    name: SopName
    title: Line
    authority: Line
    """The seed's words on who holds it (``Executive with Legislative approval``)."""
    governs: list[OperationType] = Field(min_length=1, max_length=6)
    """The operation types it governs; one SOP a type."""
    requested_by: list[Authority] = Field(min_length=1, max_length=4)
    """The authorities a request of these types may invoke."""
    approvals: list[Authority] = Field(default_factory=list, max_length=4)
    """Approvals it needs at least, whatever the risk; the risk rules may add more."""
    criteria: list[CriterionRequirement] = Field(default_factory=list, max_length=10)
    """Checks that must be among the validation criteria."""
    needs_affected_systems: bool = False
    """The request must name what it changes."""
    needs_rollback_plan: bool = False
    """The request must say how to undo it."""
    review: bool = False
    """The crown owes it a post-change review once it completed or rolled back."""
    phases: list[Phase] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _distinct(self) -> Sop:
        for field, values in (
            ("governs", self.governs),
            ("requested_by", self.requested_by),
            ("approvals", self.approvals),
        ):
            if len(set(values)) != len(values):
                raise ValueError(f"{field} names one value twice")
        if Authority.JUDICIAL in self.approvals or Authority.EXECUTIVE in self.approvals:
            raise ValueError("approvals: only legislative and crown approve plans")
        return self

    @property
    def label(self) -> str:
        """How a refusal names it: ``SOP-001 deployment``."""
        return f"{self.id} {self.name}"


class SopEntry(Sop):
    """An SOP as the catalogue holds it: where its template came from, and its digest."""

    source: str
    """``builtin`` or the path of the user's file that added or replaced it."""
    digest: str
    """The sha256 of its template's text: every writer of one database must share it."""


class ReviewDue(BaseModel):
    """An operation whose SOP asks for a post-change review the crown has not recorded."""

    operation_id: str
    operation_type: OperationType
    status: OperationStatus
    requested_by: str
    updated_at: datetime


class SopDetail(SopEntry):
    """An SOP with the operations whose review is due (newest first, a page of them)."""

    reviews_due: list[ReviewDue] = Field(default_factory=list)


class ReviewNotes(BaseModel):
    """What the crown records when it reviews a change (``POST /operations/{id}/review``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    lessons: Lessons
    """Lessons learned: what went well, what did not, what to change."""
    note: Reason | None = None
    """A note beside them (a follow-up, a ticket), up to 2000 characters."""
