"""The ledger events of an operation's life: submission, plans, approvals, transitions."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent, Number


class Submitted(LedgerEvent):
    """A request became an operation (its first entry; ``to_status`` is ``submitted``)."""

    kind: Literal["submitted"] = "submitted"
    COLUMNS: ClassVar[frozenset[str]] = frozenset({"to_status"})
    to_status: str
    type: str
    authority: str
    emergency: bool
    description: str
    via: str | None = None
    """The client it came through when not the API or the CLI (``mcp:<client name>`` for an
    AI assistant over MCP); left out otherwise. The actor stays the token's principal."""


class Transition(LedgerEvent):
    """The operation moved from one status to another (the lifecycle's one way)."""

    kind: Literal["transition"] = "transition"
    COLUMNS: ClassVar[frozenset[str]] = frozenset({"from_status", "to_status"})
    from_status: str
    to_status: str
    reason: str | None = None
    """Left out when the mover gave none."""
    stage_s: Number
    """How long the operation stayed in `from_status`, in seconds."""
    deadline: str | None = None
    """Into reviewing: the approval deadline (ISO 8601)."""
    plan_hash: str | None = None
    """Into approved: the plan hash the approvals cover."""
    at: str | None = None
    """Into scheduled: when it is due (ISO 8601); back to reviewing on an amendment that
    moved the time: the new one."""
    old_plan_hash: str | None = None
    """Back to reviewing on an amendment: the plan it replaces."""
    tampered: bool | None = None
    """Into failed: the executive refused a plan that no longer hashes to the approved one."""
    score: Number | None = None
    """Out of validating: the judiciary's validation score."""


class PlanAdopted(LedgerEvent):
    """A plan was adopted: fresh step rows, all pending, and no approval yet."""

    kind: Literal["plan"] = "plan"
    plan_hash: str
    author: str | None
    risk: str | None
    steps: int
    required_approvals: list[str]
    drafted_by: str | None = None
    """The model that drafted it; left out for a plan a person wrote."""


class Approval(LedgerEvent):
    """An approver gave an approval, under an authority, to one plan hash."""

    kind: Literal["approval"] = "approval"
    authority: str
    plan_hash: str
    standard: bool | None = None
    """True when the approver's grant of this plan as a standard change gave it (the
    approver decided once, for every run of this exact plan); left out for a person's own."""


class ExecutorViolation(LedgerEvent):
    """The executor agent tried something outside the constitution."""

    kind: Literal["executor_violation"] = "executor_violation"
    step: int
    action: str
    violation: str


class AgentConsulted(LedgerEvent):
    """An agent was consulted: which model, what it said and what it cost."""

    kind: Literal["agent_consulted"] = "agent_consulted"
    agent: str
    model: str
    ok: bool
    error: str | None
    latency_s: Number
    requests: int
    input_tokens: int
    output_tokens: int
    output: JsonValue


class CancelRequested(LedgerEvent):
    """The crown asked a scheduled or executing operation to stop."""

    kind: Literal["cancel_requested"] = "cancel_requested"
    reason: str


class Acknowledged(LedgerEvent):
    """The crown acknowledged an emergency operation."""

    kind: Literal["acknowledged"] = "acknowledged"
    late: bool
    stage_s: Number


class AcknowledgementOverdue(LedgerEvent):
    """An emergency's acknowledgement deadline passed unacknowledged."""

    kind: Literal["acknowledgement_overdue"] = "acknowledgement_overdue"
    deadline: str | None
    stage_s: Number


class ChangeReviewed(LedgerEvent):
    """The crown recorded its post-change review of an operation that ended."""

    kind: Literal["change_reviewed"] = "change_reviewed"
    lessons: str
    note: str | None = None
    """Left out when the reviewer gave none."""


class Rescheduled(LedgerEvent):
    """The worker moved a scheduled operation's time: it may not start before `at`."""

    kind: Literal["rescheduled"] = "rescheduled"
    at: str
    """When it is due now (ISO 8601)."""
    because: Literal["blackout", "window"]
    """A blackout it would have started in, or the window it needs and was outside of."""
    reason: str
