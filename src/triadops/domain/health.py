"""Health reports: what each check measured, each branch's score and the overall status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from triadops.domain.alerts import Severity


class CheckStatus(StrEnum):
    """A check passed, failed its threshold, or could not be measured (unknown)."""

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class HealthStatus(StrEnum):
    """A score read against the thresholds: healthy > 0.8, degraded > 0.6, else unhealthy."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @classmethod
    def of(cls, score: float) -> HealthStatus:
        """The status a score earns."""
        if score > 0.8:
            return cls.HEALTHY
        if score > 0.6:
            return cls.DEGRADED
        return cls.UNHEALTHY


class HealthCheck(BaseModel):
    """One measured figure against its threshold."""

    name: str
    """What was measured, such as ``cpu_percent`` or ``database.triad.latency_s``."""
    component: str
    """Whose check it is: ``host``, ``database``, ``targets``, ``api``, or a branch's name."""
    status: CheckStatus
    value: float | None = None
    """The figure measured, in `unit`; None when there was nothing to measure or it failed."""
    threshold: float | None = None
    unit: str = ""
    detail: str = ""
    duration_s: float = 0.0
    system: str = ""
    """What was measured: ``host``, a database's or target's configured name, a branch."""
    alertname: str | None = None
    """The alert this check raises when it fails; None: only its component's score speaks."""
    threshold_key: str | None = None
    """The ``health.thresholds`` key that judges it; its alert is timed by ``health.timing``
    under the same key."""


class ComponentHealth(BaseModel):
    """A component's (a branch's, the host's) share of checks passed and its status."""

    name: str
    score: float = Field(ge=0, le=1)
    status: HealthStatus
    checks: list[HealthCheck]


class RaisedAlert(BaseModel):
    """An alert a health report raises; it resolves when a later report no longer raises it."""

    alertname: str
    severity: Severity
    component: str
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    """The alert's identity: ``alertname``, ``component`` and, for a check's, ``system``."""
    threshold_key: str | None = None
    """The threshold whose timing holds it (``health.timing``); None: a component's."""

    @property
    def key(self) -> str:
        """Return the alert's identity as one string: its labels, sorted."""
        return "\n".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


class AlertTrack(BaseModel):
    """One health alert's hysteresis, carried from report to report.

    Pending: its condition has held since `since`, not yet for its ``for``. Firing: it
    fired at `since`; with `clear_since`, its condition has been clear since then.
    """

    alert: RaisedAlert
    """The alert as last raised."""
    firing: bool
    since: datetime
    clear_since: datetime | None = None


class StageSample(BaseModel):
    """One branch's cumulative stage totals for one outcome, as a report read them."""

    branch: str
    outcome: str
    count: int = Field(ge=0)
    sum_s: float = Field(ge=0)


class HealthCounters(BaseModel):
    """Cumulative totals a report read, kept with it so a later report can take differences."""

    stage_totals: list[StageSample] | None = None
    """Every branch's stage totals; None when they could not be read in time."""
    alert_tracks: list[AlertTrack] = Field(default_factory=list)
    """The alerts pending or firing as of this report (hysteresis), for the next check,
    whichever worker leads then."""


class HealthReport(BaseModel):
    """One full health check."""

    id: int | None = None
    checked_at: datetime
    duration_s: float
    score: float = Field(ge=0, le=1)
    status: HealthStatus
    components: list[ComponentHealth]
    alerts: list[RaisedAlert] = Field(default_factory=list)
    """The alerts this report raises: as the monitoring loop holds them, those that held past
    their ``for`` and have not been clear for their clear-after."""
    pending: list[RaisedAlert] = Field(default_factory=list)
    """Conditions holding now that have not yet held for their ``for``: no alert yet."""
    counters: HealthCounters = Field(default_factory=HealthCounters, exclude=True)
    """Stored with the report, never shown: the totals the next report's figures start from."""


class HealthReportSummary(BaseModel):
    """A stored report's headline, for listings."""

    id: int
    checked_at: datetime
    score: float = Field(ge=0, le=1)
    status: HealthStatus
