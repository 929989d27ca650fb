"""Thresholds, scores, statuses and the alerts a report raises: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from triadops.domain.alerts import Severity
from triadops.domain.health import CheckStatus, HealthCheck, HealthStatus
from triadops.ops.health import report
from triadops.settings import Thresholds

NOW = datetime(2026, 1, 1, tzinfo=UTC)
P, F, U = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.UNKNOWN


def check(
    status: CheckStatus, *, component: str = "executive", name: str = "c", **kw: Any
) -> HealthCheck:
    return HealthCheck(name=name, component=component, status=status, **kw)


def test_the_seeds_thresholds_are_the_defaults() -> None:
    t = Thresholds()
    assert (t.cpu_percent, t.memory_percent, t.disk_percent) == (80, 85, 90)
    assert (t.response_time_s, t.error_rate, t.compliance, t.availability) == (
        5.0,
        0.01,
        0.95,
        0.99,
    )


@pytest.mark.parametrize(
    ("value", "expected"), [(79.9, P), (80.0, P), (80.1, F), (None, U)], ids=str
)
def test_at_most_passes_up_to_its_threshold(value: float | None, expected: CheckStatus) -> None:
    assert report.at_most(value, 80.0) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.98, F), (0.99, P), (1.0, P), (None, U)], ids=str
)
def test_at_least_passes_from_its_threshold(value: float | None, expected: CheckStatus) -> None:
    assert report.at_least(value, 0.99) is expected


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (1.0, HealthStatus.HEALTHY),
        (0.8001, HealthStatus.HEALTHY),
        (0.8, HealthStatus.DEGRADED),
        (0.6001, HealthStatus.DEGRADED),
        (0.6, HealthStatus.UNHEALTHY),
        (0.0, HealthStatus.UNHEALTHY),
    ],
)
def test_status_boundaries_are_exclusive(score: float, status: HealthStatus) -> None:
    assert HealthStatus.of(score) is status


def test_unknown_checks_count_against_the_score() -> None:
    assert report.score([check(P), check(P), check(U), check(F)]) == 0.5
    assert report.score([check(U)]) == 0.0
    assert report.score([]) == 0.0


def test_the_overall_score_is_the_mean_of_the_components() -> None:
    checks = [
        # The host has five checks, one failed: 0.8. The branch has one, passed: 1.0.
        *(check(P, component="host", name=f"h{i}") for i in range(4)),
        check(F, component="host", name="h4"),
        check(P, component="judicial"),
    ]
    built = report.build_report(checks, checked_at=NOW, duration_s=0.01)
    assert [(c.name, c.score) for c in built.components] == [("host", 0.8), ("judicial", 1.0)]
    assert built.score == 0.9
    assert built.status is HealthStatus.HEALTHY


def _alerts(statuses: list[CheckStatus], **kw: Any) -> list[tuple[str, Severity, str]]:
    checks = [check(s, name=f"c{i}", **kw) for i, s in enumerate(statuses)]
    built = report.build_report(checks, checked_at=NOW, duration_s=0.0)
    return [(a.alertname, a.severity, a.component) for a in built.alerts]


def test_a_healthy_component_raises_nothing() -> None:
    assert _alerts([P] * 5 + [F]) == []  # 5/6 > 0.8


def test_a_degraded_component_raises_a_warning_from_exactly_08() -> None:
    assert _alerts([P, P, P, P, F]) == [
        ("TriadComponentDegraded", Severity.WARNING, "executive")
    ]  # 4/5 = 0.8


def test_an_unhealthy_component_raises_a_critical_alert_from_exactly_06() -> None:
    assert _alerts([P, P, P, F, U]) == [
        ("TriadComponentUnhealthy", Severity.CRITICAL, "executive")
    ]  # 3/5 = 0.6
    assert _alerts([U, U]) == [("TriadComponentUnhealthy", Severity.CRITICAL, "executive")]


def test_a_failed_check_that_names_an_alert_raises_a_warning_with_its_system() -> None:
    checks = [
        check(F, component="database", name="database.orders.latency_s", system="orders",
              alertname="DatabaseSlow", value=7.5, threshold=5.0, unit="s"),
        check(P, component="database", name="database.triad.latency_s", system="triad",
              alertname="DatabaseSlow", value=0.001, threshold=5.0, unit="s"),
        check(U, component="database", name="database.audit.latency_s", system="audit",
              alertname="DatabaseSlow"),
    ]  # fmt: skip
    built = report.build_report(checks, checked_at=NOW, duration_s=0.0)
    by_name = {a.alertname: a for a in built.alerts}
    # The failed check raises its own alert; the component's alert is judged on the other
    # two, 1 of 2 passed (an unknown one is not known to be slow, nor well): unhealthy.
    assert set(by_name) == {"TriadComponentUnhealthy", "DatabaseSlow"}
    slow = by_name["DatabaseSlow"]
    assert slow.severity is Severity.WARNING
    assert slow.labels == {"alertname": "DatabaseSlow", "component": "database", "system": "orders"}
    assert "7.5 s" in slow.summary and "threshold 5 s" in slow.summary
    assert by_name["TriadComponentUnhealthy"].labels == {
        "alertname": "TriadComponentUnhealthy",
        "component": "database",
    }


def test_a_failed_branch_check_speaks_only_through_its_component() -> None:
    built = report.build_report(
        [check(F, name="error_rate"), *(check(P, name=f"p{i}") for i in range(3))],
        checked_at=NOW,
        duration_s=0.0,
    )
    assert [a.alertname for a in built.alerts] == ["TriadComponentDegraded"]
    assert "error_rate" in built.alerts[0].summary


def test_a_busy_cpu_is_one_alert_not_also_a_degraded_host() -> None:
    checks = [
        check(F, component="host", name="cpu_percent", alertname="HostCpuHigh", system="host"),
        check(P, component="host", name="memory_percent", alertname="HostMemoryHigh"),
        check(P, component="host", name="disk_percent:data", alertname="HostDiskFull"),
    ]
    built = report.build_report(checks, checked_at=NOW, duration_s=0.0)
    assert built.components[0].status is HealthStatus.DEGRADED  # 2/3: shown as it is
    assert [(a.alertname, a.severity) for a in built.alerts] == [("HostCpuHigh", Severity.WARNING)]
