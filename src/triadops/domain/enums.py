"""Enumerations shared by every part of triadops."""

from __future__ import annotations

from enum import StrEnum


class OperationType(StrEnum):
    """Kinds of operation, as named in the seed."""

    MAINTENANCE = "maintenance"
    DEPLOYMENT = "deployment"
    CONFIGURATION = "configuration"
    MONITORING = "monitoring"
    EMERGENCY = "emergency"
    VALIDATION = "validation"


class Authority(StrEnum):
    """The four constitutional authorities; also the roles an identity may hold."""

    LEGISLATIVE = "legislative"
    EXECUTIVE = "executive"
    JUDICIAL = "judicial"
    CROWN = "crown"


class Role(StrEnum):
    """Roles a token or identity can carry: the four authorities plus read-only viewer."""

    LEGISLATIVE = "legislative"
    EXECUTIVE = "executive"
    JUDICIAL = "judicial"
    CROWN = "crown"
    VIEWER = "viewer"


class Risk(StrEnum):
    """Risk levels, ordered from least to most dangerous."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the ordering low < medium < high < critical."""
        return _RISK_ORDER.index(self)

    def raised(self, levels: int = 1) -> Risk:
        """Return the risk `levels` steps higher, capped at critical."""
        return _RISK_ORDER[min(self.rank + levels, len(_RISK_ORDER) - 1)]


_RISK_ORDER = (Risk.LOW, Risk.MEDIUM, Risk.HIGH, Risk.CRITICAL)


class OperationStatus(StrEnum):
    """Lifecycle states of an operation (see constitution.lifecycle for the transitions)."""

    SUBMITTED = "submitted"
    REVIEWING = "reviewing"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    IN_DOUBT = "in_doubt"
    VALIDATING = "validating"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        """True when nothing will ever move the operation again."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        OperationStatus.REJECTED,
        OperationStatus.COMPLETED,
        OperationStatus.FAILED,
        OperationStatus.ROLLED_BACK,
        OperationStatus.CANCELLED,
    }
)


class StepStatus(StrEnum):
    """State of one step of a plan."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    """The operation's cancel interrupted the step while it ran."""
