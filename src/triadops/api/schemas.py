"""Request and response bodies of the API, kept apart from tables and domain internals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from triadops.api.problems import MEDIA_TYPE
from triadops.domain.enums import Authority, OperationStatus, OperationType, Risk
from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operations import (
    Approval,
    ImplementationResult,
    Operation,
    OperationRequest,
    Plan,
    PlanHash,
    PlanningResult,
    Reason,
    StepRecord,
    StepSpec,
    ValidationResult,
)
from triadops.domain.principals import PATTERN as PRINCIPAL_PATTERN
from triadops.domain.principals import PrincipalName

OperationIdPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="An operation's id, such as ``op-5f1c2a9b04d1``.",
    ),
]
OperationIdQuery = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", description="Only this operation's."),
]
MAX_OFFSET = 1_000_000_000
"""The largest offset a listing accepts; past it, use a narrower filter."""


class OperationSubmission(OperationRequest):
    """An operation request; ``requested_by`` defaults to the token's name."""

    requested_by: PrincipalName | None = Field(  # type: ignore[assignment]
        default=None, json_schema_extra={"pattern": PRINCIPAL_PATTERN.pattern}
    )
    """Who asks; when given it must be the token's own principal (else 403). Names are
    normalised (NFKC, trimmed, lower case) before the comparison."""

    def for_requester(self, identity: Identity) -> OperationRequest:
        """Return the request as the legislature sees it, naming the requester."""
        fields = self.model_dump(exclude={"requested_by"})
        return OperationRequest.model_validate(
            {**fields, "requested_by": self.requested_by or identity.name}
        )


class DryRun(BaseModel):
    """What a submission would plan and decide; nothing was stored."""

    dry_run: bool = True
    plan: Plan
    planning_result: PlanningResult


class OperationView(BaseModel):
    """One operation in full: request, plan, the branches' findings, steps and timeline."""

    operation_id: str
    status: OperationStatus
    status_reason: str | None
    constitutional_compliance: bool
    request: OperationRequest
    plan: Plan | None
    plan_hash: str | None
    planning_result: PlanningResult | None
    implementation_result: ImplementationResult | None
    validation_result: ValidationResult | None
    steps: list[StepRecord]
    approvals: list[Approval]
    approval_deadline: datetime | None
    acknowledged_by: str | None
    acknowledgement_deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    timeline: list[LedgerEntry]
    """Every ledger entry about this operation, oldest first."""

    @classmethod
    def build(cls, operation: Operation, timeline: list[LedgerEntry]) -> OperationView:
        """Combine the stored operation with its ledger entries."""
        return cls.model_validate(
            {
                **dict(operation),
                "constitutional_compliance": operation.constitutional_compliance,
                "timeline": timeline,
            }
        )


class OperationSummary(BaseModel):
    """One line of a listing."""

    operation_id: str
    status: OperationStatus
    status_reason: str | None
    operation_type: OperationType
    description: str
    requested_by: str
    risk_level: Risk | None
    created_at: datetime
    updated_at: datetime


class OperationPage(BaseModel):
    """A page of operations, newest first."""

    items: list[OperationSummary]
    limit: int
    offset: int


class ApproveBody(BaseModel):
    """The plan the approver reviewed, and the authority they act under."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    plan_hash: PlanHash
    """The ``plan_hash`` of the plan that was reviewed; a different current plan is 409."""
    authority: Authority = Authority.LEGISLATIVE


class RejectBody(BaseModel):
    """Why the operation is refused."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class CancelBody(BaseModel):
    """Why the operation is cancelled (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = None


class ResolveBody(BaseModel):
    """A judicial ruling on the step that was interrupted."""

    model_config = ConfigDict(extra="forbid")

    step_succeeded: bool


class AmendBody(BaseModel):
    """The plan's new steps; every earlier approval becomes void."""

    model_config = ConfigDict(extra="forbid")

    steps: list[StepSpec] = Field(min_length=1, max_length=100)


class FreezeBody(BaseModel):
    """Why all forward work is held."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class CrownState(BaseModel):
    """Whether the crown holds all forward work, since when and why."""

    frozen: bool
    frozen_by: str | None
    frozen_at: datetime | None
    reason: str | None


class LedgerPage(BaseModel):
    """Ledger entries, oldest first."""

    items: list[LedgerEntry]


class Health(BaseModel):
    """Liveness and database readiness."""

    status: str
    """``ok``; ``degraded`` when the database answers but cannot write (a full disk);
    ``unavailable`` when it does not answer."""
    database: str
    """``ok``; ``full`` when a write failed for lack of space lately; ``unavailable`` when the
    check at ``checked_at`` got no answer."""
    frozen: bool | None
    """Whether the crown held all forward work at ``checked_at``; null when unknown."""
    version: str
    reason: str | None = None
    """Why the status is not ``ok``."""
    checked_at: datetime | None = None
    """When the database was last checked (UTC): ``/health`` answers from a background probe
    every few seconds, ``/ready`` checks on each call."""


class FieldError(BaseModel):
    """One thing wrong with the input: where, and what."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 7807 problem body: every 4xx and 5xx answer has this shape."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    """The input field at fault, such as ``steps[0].params.sleep_s``, when there is one."""
    errors: list[FieldError] | None = None
    """Every field error, on a 422 from request parsing."""


PROBLEM_CAUSES: dict[int, str] = {
    401: "No valid bearer token",
    403: "The token lacks the power, or would break separation of duties",
    404: "No such operation",
    409: "The operation (or the crown) is not in a state that allows this",
    413: "The request body is larger than the server accepts",
    422: "The input does not parse or does not fit; ``field`` names the first culprit",
}
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
"""Where the served spec keeps `Problem`; `api.openapi` puts it there."""


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the documented problem answers with these status codes, for ``responses=``.

    Problems are served as ``application/problem+json``, which FastAPI's ``model`` key
    cannot say (it would document ``application/json``), hence the reference.
    """
    return {
        code: {
            "description": PROBLEM_CAUSES[code],
            "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
        }
        for code in codes
    }


PROBLEMS = problems(401, 422)
"""What any route behind a token may answer: no valid token, input that does not parse."""
