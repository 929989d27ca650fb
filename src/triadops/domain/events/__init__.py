"""The ledger's vocabulary: one model per event kind, a discriminated union on ``kind``.

Writers build one of these and hand it to ``constitution.ledger.record``; readers turn a
stored entry back into one with :func:`parse_event`. A model's fields are its entry's
details, key for key, so the details (and the hash over them) are what they were when
they were dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, get_args

from pydantic import Field

from triadops.domain.events.alerts import (
    AlertAcknowledged,
    AlertAnnotated,
    AlertEscalated,
    AlertEvent,
    AlertFired,
    AlertReescalated,
    AlertResolved,
    AlertSilenced,
    AlertUnsilenced,
)
from triadops.domain.events.backups import BackupRestoreTested
from triadops.domain.events.base import LedgerEvent, Number, Queued
from triadops.domain.events.crown import (
    CheckpointSigned,
    Freeze,
    GovernanceSet,
    Refused,
    Unfreeze,
)
from triadops.domain.events.incidents import IncidentRecorded
from triadops.domain.events.maintenance import (
    TaskEvent,
    TaskMissed,
    TaskPaused,
    TaskResumed,
    TaskRunEnded,
    TaskRunSubmitted,
)
from triadops.domain.events.notifications import (
    GroupFlushed,
    NotificationFailed,
    NotificationSent,
)
from triadops.domain.events.operations import (
    Acknowledged,
    AcknowledgementOverdue,
    AgentConsulted,
    Approval,
    CancelRequested,
    ChangeReviewed,
    ExecutorViolation,
    PlanAdopted,
    Rescheduled,
    Submitted,
    Transition,
)
from triadops.domain.events.silences import (
    ChangeSilenceEnded,
    ChangeSilenceOpened,
    SilenceCreated,
    SilenceExpired,
)
from triadops.domain.events.standards import (
    StandardDeclined,
    StandardEvent,
    StandardGranted,
    StandardOutcome,
    StandardProposed,
    StandardRevoked,
)
from triadops.domain.events.steps import (
    RollbackStarted,
    StepCancelled,
    StepEvent,
    StepFailed,
    StepResumed,
    StepRollbackFailed,
    StepRolledBack,
    StepRuled,
    StepStarted,
    StepSucceeded,
)
from triadops.domain.events.tokens import (
    PrincipalCreated,
    TokenCreated,
    TokenRevoked,
    fingerprint,
)

AnyEvent = Annotated[
    Submitted
    | Transition
    | PlanAdopted
    | Approval
    | ExecutorViolation
    | AgentConsulted
    | CancelRequested
    | Acknowledged
    | AcknowledgementOverdue
    | ChangeReviewed
    | Rescheduled
    | StepStarted
    | StepResumed
    | StepSucceeded
    | StepFailed
    | StepCancelled
    | StepRuled
    | RollbackStarted
    | StepRolledBack
    | StepRollbackFailed
    | Freeze
    | Unfreeze
    | Refused
    | GovernanceSet
    | CheckpointSigned
    | PrincipalCreated
    | TokenCreated
    | TokenRevoked
    | AlertFired
    | AlertAcknowledged
    | AlertResolved
    | AlertSilenced
    | AlertUnsilenced
    | AlertAnnotated
    | AlertEscalated
    | AlertReescalated
    | SilenceCreated
    | SilenceExpired
    | ChangeSilenceOpened
    | ChangeSilenceEnded
    | GroupFlushed
    | NotificationSent
    | NotificationFailed
    | BackupRestoreTested
    | IncidentRecorded
    | StandardOutcome
    | StandardProposed
    | StandardGranted
    | StandardDeclined
    | StandardRevoked
    | TaskRunSubmitted
    | TaskMissed
    | TaskRunEnded
    | TaskPaused
    | TaskResumed,
    Field(discriminator="kind"),
]
"""Every event the ledger holds, told apart by ``kind`` (the entry's ``event`` column)."""

EVENT_TYPES: Final[dict[str, type[LedgerEvent]]] = {
    cls.model_fields["kind"].default: cls for cls in get_args(get_args(AnyEvent)[0])
}
"""Each kind's model, by kind."""


class UnknownEvent(ValueError):
    """A stored entry of a kind no model describes (no writer of this release wrote it)."""


def parse_event(
    kind: str,
    details: Mapping[str, Any],
    *,
    from_status: str | None = None,
    to_status: str | None = None,
) -> LedgerEvent:
    """Return a stored entry as its event: its kind, its details and its status columns.

    Raises :class:`UnknownEvent` for a kind no model describes, and pydantic's
    ``ValidationError`` for details its model does not accept (an entry older than one of
    its fields, or forged): both are ``ValueError``.
    """
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise UnknownEvent(f"no event kind {kind!r}")
    data: dict[str, Any]
    if cls.RENAMED:
        renamed = {stored: name for name, stored in cls.RENAMED.items()}
        data = {renamed.get(key, key): value for key, value in details.items()}
    else:
        data = dict(details)
    if "kind" in data:
        raise UnknownEvent(f"{kind} details carry a key 'kind' no field of theirs is stored as")
    if "from_status" in cls.COLUMNS:
        data["from_status"] = from_status
    if "to_status" in cls.COLUMNS:
        data["to_status"] = to_status
    return cls.validated(data)


__all__ = [
    "EVENT_TYPES",
    "Acknowledged",
    "AcknowledgementOverdue",
    "AgentConsulted",
    "AlertAcknowledged",
    "AlertAnnotated",
    "AlertEscalated",
    "AlertEvent",
    "AlertFired",
    "AlertReescalated",
    "AlertResolved",
    "AlertSilenced",
    "AlertUnsilenced",
    "AnyEvent",
    "Approval",
    "BackupRestoreTested",
    "CancelRequested",
    "ChangeReviewed",
    "ChangeSilenceEnded",
    "ChangeSilenceOpened",
    "CheckpointSigned",
    "ExecutorViolation",
    "Freeze",
    "GovernanceSet",
    "GroupFlushed",
    "IncidentRecorded",
    "LedgerEvent",
    "NotificationFailed",
    "NotificationSent",
    "Number",
    "PlanAdopted",
    "PrincipalCreated",
    "Queued",
    "Refused",
    "Rescheduled",
    "RollbackStarted",
    "SilenceCreated",
    "SilenceExpired",
    "StandardDeclined",
    "StandardEvent",
    "StandardGranted",
    "StandardOutcome",
    "StandardProposed",
    "StandardRevoked",
    "StepCancelled",
    "StepEvent",
    "StepFailed",
    "StepResumed",
    "StepRollbackFailed",
    "StepRolledBack",
    "StepRuled",
    "StepStarted",
    "StepSucceeded",
    "Submitted",
    "TaskEvent",
    "TaskMissed",
    "TaskPaused",
    "TaskResumed",
    "TaskRunEnded",
    "TaskRunSubmitted",
    "TokenCreated",
    "TokenRevoked",
    "Transition",
    "Unfreeze",
    "UnknownEvent",
    "fingerprint",
    "parse_event",
]
