"""What the ledger says each operation, step, approval, token and the crown are now.

One fold per event kind, grouped by the subject it changes: ``fold(state, [subject,] event,
entry)`` applies one event to the state the entries before it left, in place (a walk over
100,000 entries cannot copy its state at each). The services change the rows; these folds
say what the rows must be, and ``audit`` compares the two (``compare``). Alerts, silences,
groups and deliveries have folds of the same shape in ``alert_audit`` and
``notification_audit``, read through the same :class:`Reader`.

The events are read back without validation (:class:`Reader`): an entry older than one of
its fields, or forged, still folds, and each fold checks the type of what it reads, so
such an entry leaves that one aspect unchecked (``UNKNOWN``) or is named, never crashes
the walk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, Final

from triadops.constitution.lifecycle import STEP_TRANSITIONS, TRANSITIONS
from triadops.domain.chain import canonical_json
from triadops.domain.events import (
    EVENT_TYPES,
    Acknowledged,
    AcknowledgementOverdue,
    Approval,
    BackupRestoreTested,
    CancelRequested,
    ChangeReviewed,
    LedgerEvent,
    PlanAdopted,
    Rescheduled,
    StepEvent,
    Submitted,
    Transition,
)
from triadops.domain.ledger import Discrepancy, DiscrepancyKind
from triadops.storage.ledger import StoredLink


class _Unknown(Enum):
    UNKNOWN = "unknown"


UNKNOWN: Final = _Unknown.UNKNOWN
"""An aspect older entries do not carry: unchecked, never a finding."""

MAX_STEPS = 10_000
"""More steps than any plan may have (a request allows 100): a count beyond is not believed."""


def known(value: Any) -> str | _Unknown:
    """Return a detail that should be text, or UNKNOWN when the entry does not say."""
    return value if isinstance(value, str) else UNKNOWN


def as_text(value: Any) -> str | None:
    """Return a detail as text, whatever a forged entry put there (it must stay hashable)."""
    return value if isinstance(value, str) or value is None else canonical_json(value)


@dataclass(slots=True)
class OperationState:
    """What the ledger says one operation, its steps and its approvals are now."""

    submitted: bool = False
    stored: bool = False
    requested_by: str | None = None
    via: str | None = None
    """The client the submission came through, as its entry says (None: not said)."""
    operation_type: str | _Unknown = UNKNOWN
    status: str | None = None
    plan_hash: str | _Unknown | None = None
    plan_author: str | _Unknown = UNKNOWN
    plan_steps: int | None = None
    """The current plan's step count (None: no plan entry, or one that does not say)."""
    steps: dict[int, str | _Unknown] = field(default_factory=dict)
    approved_plan_hash: str | _Unknown | None = None
    approvals: tuple[tuple[str, str | None, str | None], ...] = ()
    """(approver, authority, plan hash) as recorded; a tuple, since most have none."""
    cancel_requested_by: str | None = None
    acknowledged_by: str | None = None
    acknowledgement_overdue: bool = False
    review: tuple[str, str | None, str | None] | None = None
    """The crown's post-change review as recorded: (reviewer, lessons, note)."""
    scheduled_at: str | _Unknown | None = UNKNOWN
    """When it is due, as last recorded (into scheduled, an amendment, a reschedule)."""


@dataclass(slots=True)
class TokenState:
    """What the ledger says one token is now."""

    roles: list[str]
    principal: str | _Unknown
    fingerprint: str | _Unknown
    revoked: bool = False
    stored: bool = False


@dataclass(slots=True)
class PrincipalState:
    """What the ledger says one principal is: its kind."""

    kind: str | _Unknown
    stored: bool = False


@dataclass(slots=True)
class LedgerState:
    """Everything the folds build, and what they found wrong on the way."""

    operations: dict[str, OperationState] = field(default_factory=dict)
    tokens: dict[str, TokenState] = field(default_factory=dict)
    principals: dict[str, PrincipalState] = field(default_factory=dict)
    freeze_said: str | None = None
    frozen_by: str | None = None
    governance: dict[str, Any] | None = None
    """The details of the ledger's last ``governance_set`` entry."""
    checkpoints: dict[str, dict[int, int]] = field(default_factory=dict)
    """Checkpoints the ledger records, by key id: checkpoint seq → recording entry."""
    backups_tested: dict[str, tuple[str, str]] = field(default_factory=dict)
    incidents: dict[str, str] = field(default_factory=dict)
    """Each incident's digest, as its last ``incident_recorded`` entry says."""
    standards: dict[str, dict[str, Any]] = field(default_factory=dict)
    """By plan hash: the standard change's record as its last entry says, and its decider."""
    """By backup id: the (checksum, operation) of its last passed recovery test."""
    found: list[Discrepancy] = field(default_factory=list)

    def say(self, kind: DiscrepancyKind, subject: str, problem: str) -> None:
        """Name one thing the ledger and the rows (or the lifecycle) disagree on."""
        self.found.append(Discrepancy(kind=kind, subject=subject, problem=problem))


Entry = StoredLink
"""The entry an event was read from: a fold reads its ``SEQ``, ``ACTOR`` and ``SUBJECT``."""
SEQ: Final = 0
ACTOR: Final = 2
SUBJECT: Final = 4


def _pairs(table: Mapping[Any, frozenset[Any]]) -> frozenset[tuple[str, str]]:
    """Return a lifecycle table's allowed moves as (from, to) status values."""
    return frozenset(
        (source.value, target.value) for source, moves in table.items() for target in moves
    )


LEGAL_TRANSITIONS = _pairs(TRANSITIONS)
"""Read from ``lifecycle.TRANSITIONS`` itself: one source of truth, as text for the walk."""
LEGAL_STEP_TRANSITIONS = _pairs(STEP_TRANSITIONS)


def fold_submitted(state: LedgerState, op: OperationState, event: Submitted, e: Entry) -> None:
    """An operation exists from its submission, by its requester."""
    op.submitted, op.requested_by, op.status = True, e[ACTOR], event.to_status
    op.via = as_text(event.via)
    op.operation_type = known(event.type)


def fold_transition(state: LedgerState, op: OperationState, event: Transition, e: Entry) -> None:
    """Move the operation, naming a move the lifecycle forbids or one that does not follow."""
    source, target = event.from_status, event.to_status
    if not op.submitted or source != op.status or (source, target) not in LEGAL_TRANSITIONS:
        _name_transition(state, op, source, target, e)
    op.status = target
    if target == "scheduled" or isinstance(event.at, str):
        op.scheduled_at = event.at if isinstance(event.at, str) or event.at is None else UNKNOWN
    if target == "reviewing":
        op.approved_plan_hash = None  # a new plan, or approvals that no longer count
    elif target == "approved":
        op.approved_plan_hash = known(event.plan_hash)


def _name_transition(
    state: LedgerState, op: OperationState, source: str, target: str, e: Entry
) -> None:
    said = f"entry {e[SEQ]}: transition {source} → {target}"
    subject = f"operation {e[SUBJECT]}"
    if not op.submitted:
        state.say("operation", subject, f"{said} before its submission")
    elif source != op.status:
        state.say(
            "operation",
            subject,
            f"{said} does not follow on: the previous transition ended at {op.status} "
            "(discontinuous)",
        )
    if (source, target) not in LEGAL_TRANSITIONS:
        state.say("operation", subject, f"{said} is not a legal transition (forged)")


def fold_step(state: LedgerState, op: OperationState, event: StepEvent, e: Entry) -> None:
    """Move one step, naming a move the step lifecycle forbids from its last status."""
    index = event.step
    if not isinstance(index, int):
        return
    target = known(event.status)
    source = op.steps.get(index)
    # No plan saying the step exists, or an entry older than step statuses: unchecked.
    if (
        isinstance(source, str)
        and isinstance(target, str)
        and (source, target) not in LEGAL_STEP_TRANSITIONS
    ):
        state.say(
            "step",
            f"step {index} of {e[SUBJECT]}",
            f"entry {e[SEQ]}: {source} → {target} is not a legal step transition (forged)",
        )
    op.steps[index] = target


def fold_rescheduled(state: LedgerState, op: OperationState, event: Rescheduled, e: Entry) -> None:
    """The worker moved the operation's time on."""
    op.scheduled_at = known(event.at)


def fold_plan(state: LedgerState, op: OperationState, event: PlanAdopted, e: Entry) -> None:
    """A plan is adopted with fresh step rows, all pending, and no approval yet."""
    op.plan_hash = known(event.plan_hash)
    op.plan_author = known(event.author)
    count = event.steps
    op.plan_steps = count if isinstance(count, int) and 0 <= count <= MAX_STEPS else None
    op.steps = dict.fromkeys(range(op.plan_steps or 0), "pending")
    op.approved_plan_hash = None


def fold_approval(state: LedgerState, op: OperationState, event: Approval, e: Entry) -> None:
    """An approval counts as (approver, authority, plan hash)."""
    op.approvals += ((e[ACTOR], as_text(event.authority), as_text(event.plan_hash)),)


def fold_cancel(state: LedgerState, op: OperationState, event: CancelRequested, e: Entry) -> None:
    """The crown asked the operation to stop."""
    op.cancel_requested_by = e[ACTOR]


def fold_acknowledged(
    state: LedgerState, op: OperationState, event: Acknowledged, e: Entry
) -> None:
    """The crown acknowledged the emergency."""
    op.acknowledged_by = e[ACTOR]


def fold_overdue(
    state: LedgerState, op: OperationState, event: AcknowledgementOverdue, e: Entry
) -> None:
    """The emergency's acknowledgement is overdue."""
    op.acknowledgement_overdue = True


def fold_reviewed(state: LedgerState, op: OperationState, event: ChangeReviewed, e: Entry) -> None:
    """The crown reviewed the change: who, the lessons and the note stay as recorded."""
    op.review = (e[ACTOR], as_text(event.lessons), as_text(event.note))


def fold_backup_tested(
    state: LedgerState, op: OperationState, event: BackupRestoreTested, e: Entry
) -> None:
    """A passed recovery test: the backup's row must say it, with this checksum."""
    state.backups_tested[event.backup] = (event.checksum, str(e[SUBJECT]))


OperationFold = Callable[[LedgerState, OperationState, Any, Entry], None]

OPERATION_FOLDS: Final[dict[type[LedgerEvent], OperationFold]] = {
    Submitted: fold_submitted,
    Transition: fold_transition,
    PlanAdopted: fold_plan,
    Approval: fold_approval,
    CancelRequested: fold_cancel,
    Acknowledged: fold_acknowledged,
    AcknowledgementOverdue: fold_overdue,
    ChangeReviewed: fold_reviewed,
    Rescheduled: fold_rescheduled,
    BackupRestoreTested: fold_backup_tested,
    **{kind: fold_step for kind in EVENT_TYPES.values() if issubclass(kind, StepEvent)},
}
"""The folds of entries filed under an operation: its own, its steps' and approvals'."""

NOT_FOLDED: Final[dict[str, str]] = {
    "agent_consulted": "advice: the decision it informed is what the rows keep",
    "executor_violation": "the operation's failure that follows is folded",
    "refused": "a refusal changed nothing",
}
"""Kinds that change no state the rows keep, each with why."""

_new = object.__new__
_set = object.__setattr__


class Reader:
    """Read one kind's entries back as its events, unvalidated, and fold them.

    The event is a view of the decoded details with the model's fields: a field the entry
    lacks reads as UNKNOWN (or its default when it has one). Folds check the type of each
    field they read, so an entry older than a field, or forged, leaves that aspect
    unchecked or is named, never stops the walk. Validating, or even copying, every entry
    would cost the walk a third of its speed.
    """

    __slots__ = ("columns", "fold", "kind", "view")

    def __init__(self, kind: type[LedgerEvent], fold: Callable[..., None]) -> None:
        self.kind, self.fold, self.columns = kind, fold, bool(kind.COLUMNS)
        fields: dict[str, Any] = {
            name: UNKNOWN if info.is_required() else info.default
            for name, info in kind.model_fields.items()
        }
        for name, stored in kind.RENAMED.items():
            # Stored under another key (``kind`` is the event's): read from that key.
            fields[name] = property(partial(_renamed, stored, fields[name]))
        fields["__doc__"] = f"A stored {kind.__name__}, as stored."
        self.view = type(f"Stored{kind.__name__}", (), fields)

    def event(self, link: StoredLink, details: dict[str, Any]) -> Any:
        """Return the link's event as stored; `details` (decoded for this walk) become it."""
        if self.columns:
            details["from_status"], details["to_status"] = link[5], link[6]
        event: Any = _new(self.view)
        _set(event, "__dict__", details)
        return event


def _renamed(key: str, default: Any, event: Any) -> Any:
    """Return the detail a renamed field is stored as (see ``LedgerEvent.RENAMED``)."""
    return event.__dict__.get(key, default)


OPERATION_READERS: Final = {
    kind.model_fields["kind"].default: Reader(kind, fold) for kind, fold in OPERATION_FOLDS.items()
}
