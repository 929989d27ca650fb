"""The health section: how often the leader checks, the thresholds and their alert timing."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, BaseModel, Field


class Thresholds(BaseModel):
    """The seed's health thresholds: a figure past its threshold fails its check."""

    model_config = {"extra": "forbid"}

    cpu_percent: float = Field(default=80.0, gt=0, le=100)
    memory_percent: float = Field(default=85.0, gt=0, le=100)
    disk_percent: float = Field(default=90.0, gt=0, le=100)
    response_time_s: float = Field(default=5.0, gt=0)
    """Databases' round trips, HTTP targets' answers, and each branch's mean decision time
    (the time its own code took, not waits for steps or people)."""
    slow_step_share: float = Field(default=0.8, gt=0, le=1)
    """A step is slow when it takes more than this share of its action's ``timeout_s``; the
    executive's share of slow steps is held to ``error_rate``. Judged as steps are folded."""
    error_rate: float = Field(default=0.01, ge=0, le=1)
    """The API's share of 5xx answers, and each branch's share of failed stages."""
    compliance: float = Field(default=0.95, ge=0, le=1)
    """The least share of recent operations that met every validation criterion."""
    availability: float = Field(default=0.99, ge=0, le=1)
    """The least share of recent heartbeats a live worker must have beaten."""


class AlertTiming(BaseModel):
    """How long a health condition must hold before its alert fires, and be clear to resolve.

    As a Prometheus rule's ``for`` and ``keep_firing_for``: a signal that flaps inside these
    spans stays one alert, and a spike shorter than `for_s` opens none.
    """

    model_config = {"extra": "forbid"}

    for_s: float = Field(default=300.0, ge=0, le=86400)
    """How long the condition must hold, seen at every check, before the alert fires."""
    clear_s: float = Field(default=300.0, ge=0, le=86400)
    """How long a firing alert's condition must be clear before it resolves."""


class AlertTimings(BaseModel):
    """Each health threshold's alert timing (its key in ``thresholds``), plus components'."""

    model_config = {"extra": "forbid"}

    cpu_percent: AlertTiming = Field(default_factory=AlertTiming)
    memory_percent: AlertTiming = Field(default_factory=AlertTiming)
    disk_percent: AlertTiming = Field(
        default_factory=lambda: AlertTiming(for_s=300.0, clear_s=600.0)
    )
    response_time_s: AlertTiming = Field(
        default_factory=lambda: AlertTiming(for_s=120.0, clear_s=180.0)
    )
    """Databases' and targets' answers: down or slow."""
    error_rate: AlertTiming = Field(default_factory=AlertTiming)
    component: AlertTiming = Field(default_factory=AlertTiming)
    """A component's degraded or unhealthy alert (its checks are already read over
    ``window_s``)."""

    def of(self, threshold: str | None) -> AlertTiming:
        """Return the timing of `threshold`; a condition that names none is a component's."""
        found = getattr(self, threshold or "component", None)
        return found if isinstance(found, AlertTiming) else self.component


class HealthSettings(BaseModel):
    """The monitoring loop's health checks."""

    model_config = {"extra": "forbid"}

    every_s: float = Field(default=60.0, gt=0)
    """How often the leader runs a full health check."""
    probe_every_s: float = Field(default=2.0, gt=0)
    """How often the API's background probe checks the database: ``GET /health``'s answer
    is at most this old."""
    probe_timeout_s: float = Field(default=5.0, gt=0, le=300)
    """A database slower than this to answer the background probe counts as unavailable."""
    collector_timeout_s: float = Field(default=5.0, gt=0, le=300)
    """How long one collector may take; past it, its checks read unknown."""
    history: int = Field(default=1440, ge=1)
    """How many stored reports are kept (a day at one a minute)."""
    window_s: float = Field(default=3600.0, gt=0)
    """The recent past a branch's figures (errors, compliance, availability) are read over."""
    http_targets: dict[str, AnyHttpUrl] = Field(default_factory=dict)
    """A user's own services, by name: their answer time and status are checked."""
    disk_paths: list[Path] = Field(default_factory=list)
    """Filesystems whose usage is checked; the data folder's is always one."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    timing: AlertTimings = Field(default_factory=AlertTimings)
    """Per threshold: how long a condition holds before its alert fires, and is clear
    before it resolves."""
