"""Health's rules: when a figure passes, how a component scores, when a condition alerts.

A figure passes against its threshold (`at_most`, `at_least`); a component scores the share
of its checks that passed, an unknown one counting against it (`score`); a condition
becomes a firing alert only once it has held for its hold time, and clears only once it has
been clear for its clear time (`hold`, in `hysteresis`). The thresholds themselves are
settings (``health.*``); `report` applies these rules to a check's readings.
"""

from __future__ import annotations

from collections.abc import Sequence

from triadops.domain.health import CheckStatus, HealthCheck
from triadops.ops.health.hysteresis import Held as Held
from triadops.ops.health.hysteresis import hold as hold

DEGRADED_ALERT = "TriadComponentDegraded"
UNHEALTHY_ALERT = "TriadComponentUnhealthy"


def at_most(value: float | None, threshold: float) -> CheckStatus:
    """Pass a figure no higher than `threshold` (usage, latency, error rate)."""
    if value is None:
        return CheckStatus.UNKNOWN
    return CheckStatus.PASS if value <= threshold else CheckStatus.FAIL


def at_least(value: float | None, threshold: float) -> CheckStatus:
    """Pass a figure no lower than `threshold` (availability, compliance)."""
    if value is None:
        return CheckStatus.UNKNOWN
    return CheckStatus.PASS if value >= threshold else CheckStatus.FAIL


def score(checks: Sequence[HealthCheck]) -> float:
    """Return the share of `checks` that passed; unknown ones count against it.

    No checks at all score 0: nothing was measured, so nothing is known to be well.
    """
    if not checks:
        return 0.0
    return round(sum(c.status is CheckStatus.PASS for c in checks) / len(checks), 4)
