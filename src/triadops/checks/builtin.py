"""The checks that ship with triadops."""

from __future__ import annotations

from triadops.checks.agents import AgentsHealthy
from triadops.checks.base import Check
from triadops.checks.compliance import ConstitutionalComplianceVerified
from triadops.checks.database import NoDataLoss
from triadops.checks.functionality import SystemFunctionalityMaintained
from triadops.checks.performance import PerformanceWithinBaseline


def builtin_checks() -> list[Check]:
    """Return one instance of every built-in check."""
    return [
        SystemFunctionalityMaintained(),
        PerformanceWithinBaseline(),
        NoDataLoss(),
        ConstitutionalComplianceVerified(),
        AgentsHealthy(),
    ]
