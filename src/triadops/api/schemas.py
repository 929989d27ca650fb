"""Request and response bodies of the API, kept apart from tables and domain internals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from triadops.api.problems import MEDIA_TYPE
from triadops.domain.acknowledgements import Acknowledgement, acknowledgement_of
from triadops.domain.agents import AgentName
from triadops.domain.checkpoints import Checkpoint
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest
from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import (
    Approval,
    ChangeReview,
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
from triadops.domain.sops import ReviewNotes
from triadops.domain.values import Via
from triadops.storage.listing import (
    MAX_CURSOR_LENGTH,
    ListingFilters,
    Position,
    cursor_position,
)

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
    via: Via | None = None
    """The client it comes through (``mcp:<assistant>`` from a remote ``triad mcp``),
    stored on the operation as said: printable ASCII, at most 100 characters. It describes,
    never decides: the requester is the token's principal whatever it says."""

    def for_requester(self, identity: Identity) -> OperationRequest:
        """Return the request as the legislature sees it, naming the requester."""
        fields = self.model_dump(exclude={"requested_by", "via"})
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
    via: str | None = None
    """The client it came through (``mcp:<assistant>``), as that client said; None for the
    API's other clients and the CLI."""
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
    acknowledgement: Acknowledgement | None = None
    """An emergency's acknowledgement from the ledger: who, when, and how late."""
    review: ChangeReview | None = None
    """The crown's post-change review: lessons learned and a note, once recorded."""
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
                "acknowledgement": acknowledgement_of(operation.acknowledgement_deadline, timeline),
            }
        )


class CancelView(OperationView):
    """The operation after a cancel was accepted, and what happens next."""

    cancel: str
    """What the cancel does: ``cancelled`` (it had not started), ``stopping now: …`` (the
    running step is interrupted) or ``cancel requested; stops after the current step: …``
    (the running step cannot be interrupted) or ``…stops before its next step…``."""


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


class OperationQuery(BaseModel):
    """What ``GET /operations`` lists: filters, and where the page starts."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    status: list[OperationStatus] | None = None
    """Only operations in these states (repeatable)."""
    operation_type: list[OperationType] | None = None
    """Only operations of these types (repeatable)."""
    since: Annotated[AwareDatetime, AfterValidator(_utc)] | None = None
    """Only operations created at or after this time (ISO 8601 with a zone)."""
    limit: int = Field(default=50, ge=1, le=500)
    """At most this many operations."""
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    """Skip this many first. Offset pages shift when operations are added; prefer ``cursor``."""
    cursor: str | None = Field(default=None, min_length=1, max_length=MAX_CURSOR_LENGTH)
    """Continue after the page that gave this ``next_cursor``, with the same filters; it
    excludes ``offset``. Cursor pages hold still while operations are added."""

    @field_validator("cursor")
    @classmethod
    def _fits(cls, token: str | None, info: ValidationInfo) -> str | None:
        earlier = info.data
        if token is None or not {"status", "operation_type", "since", "offset"} <= set(earlier):
            return token  # an earlier field failed, and is reported instead
        if earlier["offset"]:
            raise PydanticCustomError("cursor_offset", "a cursor excludes offset; drop offset")
        try:
            cursor_position(token, **_filters(earlier))
        except InvalidRequest as exc:
            raise PydanticCustomError("cursor", exc.message.removeprefix("cursor: ")) from None
        return token

    def filters(self) -> ListingFilters:
        """Return the filters as `list_operations` and the cursor functions take them."""
        return _filters(dict(self))

    def after(self) -> Position | None:
        """Return where the cursor's page ended, if there is a cursor (already checked)."""
        return None if self.cursor is None else cursor_position(self.cursor, **self.filters())


def _filters(fields: dict[str, Any]) -> ListingFilters:
    return ListingFilters(
        statuses=fields["status"] or (),
        types=fields["operation_type"] or (),
        since=fields["since"],
    )


class OperationPage(BaseModel):
    """A page of operations, newest first (ties by id)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    items: list[OperationSummary]
    limit: int
    offset: int
    next_cursor: str | None = None
    """Pass as ``cursor`` (with the same filters) for the next page; null when this page is
    not full, so nothing more was there when it was read."""


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


class ReviewBody(ReviewNotes):
    """The crown's post-change review: lessons learned, and a note."""


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


class CrownChange(CrownState):
    """The crown's switches after a freeze or unfreeze, and who moved them."""

    by: str


class SignedCheckpoint(Checkpoint):
    """A checkpoint the server signed and appended to its log."""

    log: str
    """Where the server's checkpoint log is, on the server's machine."""


class AgentCheckView(BaseModel):
    """How one agent's model held to its contract on the drill."""

    agent: AgentName
    model: str
    """The model as people read it (``provider:model``), never a key."""
    ok: bool
    latency_s: float
    input_tokens: int
    output_tokens: int
    error: str | None
    """How it failed or broke the contract, in one line, without the request or any key."""


class AgentChecks(BaseModel):
    """Every configured agent's check; ``ok`` when none broke its contract."""

    ok: bool
    agents: list[AgentCheckView]


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
    429: "Over the principal's rate limit; ``Retry-After`` says when to try again",
    504: "The work asked for did not end within its deadline",
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
