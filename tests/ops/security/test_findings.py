"""Alerts follow the newest security report: one per vulnerable package, resolved once gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triadops.constitution.ledger import audit
from triadops.domain.security import (
    OsAudit,
    PendingUpdate,
    PythonAudit,
    SecurityReport,
    Vulnerability,
    report_status,
)
from triadops.ops.monitor import Monitor
from triadops.ops.security.scheduled import follow_reports
from triadops.runtime import Runtime
from triadops.storage.alerts import unresolved_alerts
from triadops.storage.security import save_report
from triadops.storage.targets import OWN_DATABASE

NOW = datetime(2026, 12, 1, 3, tzinfo=UTC)


def vulnerable(package: str, *ids: str) -> Vulnerability:
    return Vulnerability(
        package=package, version="1.0", ids=list(ids), fix_versions=["2.0"], description="bad"
    )


def report(*found: Vulnerability, os_security: int = 0, skipped: bool = False) -> SecurityReport:
    python = (
        PythonAudit(status="skipped", reason="no network")
        if skipped
        else PythonAudit(
            status="audited",
            packages=50,
            audited=50,
            vulnerable=list(found),
            vulnerabilities=sum(len(v.ids) for v in found),
        )
    )
    updates = [
        PendingUpdate(package=f"lib{i}", installed="1", candidate="2", origin="sec", security=True)
        for i in range(os_security)
    ]
    os = OsAudit(
        status="checked", manager="apt", pending=os_security, security=os_security, updates=updates
    )
    return SecurityReport(created_at=NOW, status=report_status(python, os), python=python, os=os)


async def store(runtime: Runtime, found: SecurityReport, key: str) -> int:
    engine = runtime.databases.get(OWN_DATABASE)
    return await save_report(engine, found, operation_id=f"op-{key}", step_key=key)


async def open_alerts(runtime: Runtime) -> dict[str, str]:
    async with runtime.session(read_only=True) as session:
        rows = await unresolved_alerts(session, source="security")
    return {r.labels.get("package", r.alertname): r.severity for r in rows}


async def test_one_alert_per_package_and_resolved_when_the_next_report_drops_it(
    runtime: Runtime,
) -> None:
    await store(
        runtime, report(vulnerable("jinja2", "CVE-1", "CVE-2"), vulnerable("idna", "X")), "a"
    )
    seen = await follow_reports(runtime.powers, now=NOW, seen=None)
    assert await open_alerts(runtime) == {"jinja2": "warning", "idna": "warning"}

    # Nothing new: one primary-key read, nothing raised again.
    assert await follow_reports(runtime.powers, now=NOW, seen=seen) == seen

    later = NOW + timedelta(days=7)
    newer = await store(runtime, report(vulnerable("idna", "X"), os_security=3), "b")
    assert await follow_reports(runtime.powers, now=later, seen=seen) == newer
    assert await open_alerts(runtime) == {"idna": "warning", "OsSecurityUpdatesPending": "warning"}
    async with runtime.session(read_only=True) as session:
        assert (await audit.verify(session)).ok


async def test_a_skipped_audit_is_said_and_clears_when_one_succeeds(runtime: Runtime) -> None:
    await store(runtime, report(skipped=True), "a")
    seen = await follow_reports(runtime.powers, now=NOW, seen=None)
    assert await open_alerts(runtime) == {"SecurityAuditSkipped": "info"}
    await store(runtime, report(), "b")
    await follow_reports(runtime.powers, now=NOW + timedelta(days=1), seen=seen)
    assert await open_alerts(runtime) == {}


async def test_the_monitors_leader_raises_them_on_its_alerts_cycle(runtime: Runtime) -> None:
    await store(runtime, report(vulnerable("urllib3", "GHSA-1")), "a")
    monitor = Monitor(runtime.powers, owner="w1", clock=lambda: NOW, collectors=[])
    result = await monitor.tick()
    assert result.leader and result.alerts_cycle
    assert await open_alerts(runtime) == {"urllib3": "warning"}
    assert monitor.security_seen is not None


async def test_os_findings_are_not_hidden_by_a_skipped_python_audit(runtime: Runtime) -> None:
    both = report(skipped=True, os_security=2)
    assert both.status == "findings"
    assert both.summary.startswith("Python packages skipped: no network; 2 OS updates pending")
    await store(runtime, both, "a")
    await follow_reports(runtime.powers, now=NOW, seen=None)
    assert await open_alerts(runtime) == {
        "SecurityAuditSkipped": "info",
        "OsSecurityUpdatesPending": "warning",
    }
