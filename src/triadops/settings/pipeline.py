"""The pipeline section: how operations are judged, approved and given time."""

from __future__ import annotations

from pydantic import BaseModel, Field

from triadops.domain.windows import DEFAULT_WINDOWS, MaintenanceWindow, OneOffBlackout


class PipelineSettings(BaseModel):
    """Approval and acknowledgement deadlines, risk scoring and the branches' time budgets."""

    approval_timeout_s: float = Field(default=24 * 3600, gt=0)
    """A pending approval not given within this many seconds rejects the operation."""
    acknowledgement_timeout_s: float = Field(default=15 * 60, gt=0)
    """An emergency operation must be acknowledged by the crown within this many seconds."""
    blast_radius_threshold: int = Field(default=3, ge=1)
    """More affected systems than this raises an operation's risk by one level."""
    recent_failure_threshold: int = Field(default=2, ge=1)
    """This many failures of the same procedure in a day raise its risk by one level."""
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=lambda: list(DEFAULT_WINDOWS)
    )
    """Windows in which medium-risk work with a rollback plan is approved automatically."""
    maintenance_blackouts: list[OneOffBlackout | MaintenanceWindow] = Field(default_factory=list)
    """Periods in which nothing but emergencies runs: one-off (starts, ends) or recurring."""
    preview_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """How long one step's dry run may take during review before the request is refused."""
    probe_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """How long asking an action whether an interrupted step took effect may take."""
    check_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """How long one check's measurement may take; a measurement past it fails the check."""
    performance_tolerance: float = Field(default=3.0, gt=1)
    """``performance_within_baseline`` fails when latency exceeds baseline times this."""
    performance_regression_factor: float = Field(default=2.0, gt=1, le=1000)
    """``performance_analysis`` raises an alert for a latency percentile slower than the
    stored baseline's times this (and slower by more than a millisecond)."""
