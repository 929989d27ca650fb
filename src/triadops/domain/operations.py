"""Operation requests, plans and the seed's result shape."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from triadops.domain import clock
from triadops.domain.agents import AgentReport
from triadops.domain.enums import Authority, OperationStatus, OperationType, Risk, StepStatus
from triadops.domain.principals import PrincipalName
from triadops.domain.progress import StepProgress
from triadops.domain.values import MAX_PARAM_DEPTH as MAX_PARAM_DEPTH
from triadops.domain.values import (
    NO_NUL_PATTERN as NO_NUL_PATTERN,
)
from triadops.domain.values import Lessons as Lessons
from triadops.domain.values import Params as Params
from triadops.domain.values import Reason as Reason
from triadops.domain.values import Text as Text
from triadops.domain.values import (
    _storable as _storable,
)

OperationId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

PlanHash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""The sha256 (hex) of a plan's binding, which approvals name."""


def new_operation_id() -> str:
    """Return a fresh, sortable-enough operation id such as ``op-5f1c2a9b04d1``."""
    return f"op-{uuid.uuid4().hex[:12]}"


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC, from the process's clock."""
    return clock.utcnow()


def as_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC and convert an aware one to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StepSpec(BaseModel):
    """One step as asked for: a registered action and its parameters."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    action: Text = Field(min_length=1, max_length=100)
    """Name of a registered action, such as ``database.vacuum_analyze``."""
    params: Params = Field(default_factory=dict)
    """Parameters, validated against the action's params model during review."""


ONE_WAY_TO_SAY_WHAT: dict[str, JsonValue] = {
    "oneOf": [
        {
            "title": "by procedure",
            "required": ["procedure"],
            "properties": {"procedure": {"type": "string"}, "steps": {"maxItems": 0}},
        },
        {
            "title": "by steps",
            "required": ["steps"],
            "properties": {
                "steps": {"minItems": 1},
                "procedure": {"type": "null"},
                "procedure_params": {"maxProperties": 0},
            },
        },
        {
            "title": "by description (a planner agent drafts the steps)",
            "properties": {
                "procedure": {"type": "null"},
                "steps": {"maxItems": 0},
                "procedure_params": {"maxProperties": 0},
            },
        },
    ]
}
"""At most one of ``procedure`` and ``steps`` (non-empty), as `_one_way_to_say_what` checks;
with neither, a planner agent drafts the steps from the description (``drafts``).
``procedure_params`` only with a procedure."""
EMERGENCY_NEEDS_CROWN: dict[str, JsonValue] = {
    "anyOf": [
        {"title": "no emergency", "properties": {"emergency_priority": {"const": False}}},
        {"title": "crown", "properties": {"constitutional_authority": {"const": "crown"}}},
    ]
}
"""``emergency_priority: true`` only with ``constitutional_authority: crown`` (else 403)."""


class OperationRequest(BaseModel):
    """A request to change a running system, with the seed's fields."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        json_schema_extra={"allOf": [ONE_WAY_TO_SAY_WHAT, EMERGENCY_NEEDS_CROWN]},
    )

    operation_id: OperationId = Field(default_factory=new_operation_id)
    """The caller's own id for the operation, else a new one such as ``op-5f1c2a9b04d1``;
    an id already taken is refused (409)."""
    operation_type: OperationType
    constitutional_authority: Authority
    """The power the request invokes; the requester must hold it (else 403)."""
    description: Text = Field(min_length=1, max_length=2000)
    requested_by: PrincipalName
    """The principal who asks (normalised); it must be the caller."""
    scheduled_time: datetime | None = Field(
        default=None, json_schema_extra={"pattern": r"^[2-8][0-9]{3}-"}
    )
    """When to run, at the earliest; naive values are taken as UTC. It must lie between
    2000-01-01 and 9000-01-01 once converted to UTC."""
    emergency_priority: bool = False
    """Emergency treatment (no window, crown acknowledgement owed): a crown power, so it
    needs ``constitutional_authority: crown`` (SOP-002)."""
    affected_systems: list[Annotated[Text, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    rollback_plan: Text | None = Field(default=None, max_length=2000)
    validation_criteria: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )
    """Names of registered checks, measured before and after the steps."""
    procedure: Text | None = Field(default=None, min_length=1, max_length=100)
    """A named procedure from the catalogue; excludes ``steps``."""
    procedure_params: Params = Field(default_factory=dict, max_length=64)
    """Values of the procedure's declared parameters (``triad procedures show NAME``); only
    with ``procedure``. Checked against the declaration before anything is stored."""
    steps: list[StepSpec] = Field(default_factory=list, max_length=100)
    """Explicit steps; excludes ``procedure``."""
    window: Text | None = Field(default=None, min_length=1, max_length=100)
    """The work needs a maintenance window: ``any`` of them, or one by name. It is placed
    in the window (at the quietest slot when no time is given, else at the next slot that
    fits) and starts only inside it. Left out, a procedure's own ``window`` applies; with
    neither, the work runs when asked (blackouts still bind it). Emergencies ignore it."""

    @field_validator("scheduled_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            when = as_utc(value)
        except OverflowError:
            raise ValueError("out of range once converted to UTC") from None
        if not EARLIEST <= when < LATEST:
            raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year} (UTC)")
        return when

    @field_validator("procedure_params")
    @classmethod
    def _only_with_a_procedure(
        cls, value: dict[str, JsonValue], info: ValidationInfo
    ) -> dict[str, JsonValue]:
        if value and not info.data.get("procedure"):
            raise ValueError("only with 'procedure': steps take their own params")
        return value

    @model_validator(mode="after")
    def _one_way_to_say_what(self) -> OperationRequest:
        if self.procedure and self.steps:
            raise ValueError("give either 'procedure' or 'steps', not both")
        return self

    @property
    def drafts(self) -> bool:
        """True when the request gives only a description: a planner agent drafts the steps."""
        return not self.procedure and not self.steps

    @property
    def is_emergency(self) -> bool:
        """Emergencies skip windows but owe the crown an acknowledgement."""
        return self.emergency_priority or self.operation_type is OperationType.EMERGENCY


class StoredRequest(BaseModel):
    """A stored request as the calendar and the gates read it, whatever version stored it.

    Only the fields they weigh, each with a default, other keys ignored: a request stored
    before a field existed still reads, and no gate reads raw JSON keys.
    """

    model_config = ConfigDict(extra="ignore")

    affected_systems: list[str] = Field(default_factory=list)
    window: str | None = None
    emergency_priority: bool = False
    operation_type: str | None = None

    @property
    def is_emergency(self) -> bool:
        """As `OperationRequest.is_emergency`: emergencies skip windows."""
        return self.emergency_priority or self.operation_type == OperationType.EMERGENCY.value


class StepPreview(BaseModel):
    """What a step would touch and how much, from the action's dry run."""

    summary: str
    touches: list[str] = Field(default_factory=list)
    """Names of what the step changes: tables, files, folders, hosts."""
    amounts: dict[str, float] = Field(default_factory=dict)
    """Sizes the approver should see, such as ``rows: 1200`` or ``bytes: 4096``."""


class PlannedStep(BaseModel):
    """One step of an approved-or-pending plan, as the legislature reviewed it."""

    index: int
    action: str
    params: Params
    risk: Risk
    reversible: bool
    idempotent: bool
    timeout_s: float
    preview: StepPreview
    definition: str | None = None
    """The digest of the action's declaration when configuration declares it (a command):
    approved with the plan, so a changed declaration never runs under this approval."""


def step_binding(action: str, params: Params, definition: str | None) -> dict[str, Any]:
    """Return what an approval covers of one step; the definition only when there is one.

    So every plan made before definitions existed hashes as it always did.
    """
    bound: dict[str, Any] = {"action": action, "params": params}
    if definition is not None:
        bound["definition"] = definition
    return bound


def definition_at(steps: Sequence[Any], index: int) -> str | None:
    """Return the definition a stored plan's steps (JSON) pinned for step `index`, if any."""
    found = steps[index] if 0 <= index < len(steps) else None
    pinned = found.get("definition") if isinstance(found, dict) else None
    return pinned if isinstance(pinned, str) else None


class Plan(BaseModel):
    """What will be done: the object an approval is bound to, through its hash."""

    steps: list[PlannedStep]
    affected_systems: list[str]
    rollback_plan: str | None
    validation_criteria: list[str]

    def binding(self) -> dict[str, Any]:
        """Return the parts of the plan an approval covers (previews excluded)."""
        return {
            "steps": [step_binding(s.action, s.params, s.definition) for s in self.steps],
            "affected_systems": sorted(self.affected_systems),
            "rollback_plan": self.rollback_plan,
            "validation_criteria": self.validation_criteria,
        }


class PlanningResult(BaseModel):
    """The legislature's finding, in the seed's shape."""

    approved: bool
    risk_level: Risk | None = None
    risk_reasons: list[str] = Field(default_factory=list)
    required_approvals: list[Authority] = Field(default_factory=list)
    scheduling_recommendation: str = "immediate"
    rejection_reason: str | None = None
    advice: list[str] = Field(default_factory=list)
    """Notes from an advisor (agent); they can only make the decision stricter."""
    constitutional_compliance: bool = True
    agent: AgentReport | None = None
    """The planner agent's consultation, when a model is configured."""


class StepRecord(BaseModel):
    """What happened to one step: start, end, output, error, duration."""

    index: int
    action: str
    params: Params
    status: StepStatus
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    output: dict[str, JsonValue] = Field(default_factory=dict)
    error: str | None = None
    rollback_output: dict[str, JsonValue] = Field(default_factory=dict)
    rollback_error: str | None = None
    progress: StepProgress | None = None


class ImplementationResult(BaseModel):
    """The executive's report, in the seed's shape."""

    success: bool
    changes_made: list[str] = Field(default_factory=list)
    execution_time_s: float = 0.0
    issues_encountered: list[str] = Field(default_factory=list)
    rollback_triggered: bool = False
    constitutional_compliance: bool = True
    """False when the executor agent tried to act outside the approved plan."""
    agent: list[AgentReport] = Field(default_factory=list)
    """The executor agent's consultation on each step it was handed."""


class CheckResult(BaseModel):
    """One measured criterion: what was measured before and after, and the verdict."""

    name: str
    passed: bool
    detail: str
    before: dict[str, JsonValue] = Field(default_factory=dict)
    after: dict[str, JsonValue] = Field(default_factory=dict)


class ValidationResult(BaseModel):
    """The judiciary's verdict, in the seed's shape."""

    passed: bool
    validation_score: float
    findings: list[CheckResult] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    constitutional_compliance: bool = True
    rollback_required: bool = False
    agent: AgentReport | None = None
    """The evaluator agent's consultation, when a model is configured."""


class Approval(BaseModel):
    """A decision by one identity under one authority, bound to a plan hash."""

    approver: str
    authority: Authority
    plan_hash: str
    at: datetime


class ChangeReview(BaseModel):
    """The crown's post-change review of an operation: lessons learned, and a note."""

    reviewed_by: str
    at: datetime
    lessons: str
    note: str | None = None


class Operation(BaseModel):
    """An operation as stored: its request, plan, results and current state."""

    operation_id: str
    status: OperationStatus
    request: OperationRequest
    via: str | None = None
    """The client it came through (``mcp:<assistant>``), as it says; never who asked."""
    plan: Plan | None = None
    plan_hash: str | None = None
    planning_result: PlanningResult | None = None
    implementation_result: ImplementationResult | None = None
    validation_result: ValidationResult | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    approval_deadline: datetime | None = None
    acknowledged_by: str | None = None
    acknowledgement_deadline: datetime | None = None
    status_reason: str | None = None
    review: ChangeReview | None = None
    """The crown's post-change review, once recorded."""
    created_at: datetime
    updated_at: datetime

    @property
    def constitutional_compliance(self) -> bool:
        """True unless a branch found the operation outside the constitution."""
        results = (self.planning_result, self.implementation_result, self.validation_result)
        return all(r.constitutional_compliance for r in results if r is not None)
