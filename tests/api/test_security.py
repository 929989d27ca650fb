"""``GET /security/report``: read only, for any role; 404 until an audit ran."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fixtures.api import Api
from triadops.domain.security import OsAudit, PythonAudit, SecurityReport
from triadops.runtime import Runtime
from triadops.storage.security import save_report
from triadops.storage.targets import OWN_DATABASE


async def test_none_yet_then_the_newest(api: Api, rt: Runtime) -> None:
    missing = await api.get("/security/report", as_="viewer")
    assert missing.status_code == 404
    assert "no security report yet" in missing.json()["detail"]

    skipped = SecurityReport(
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        status="skipped",
        python=PythonAudit(status="skipped", reason="no network"),
        os=OsAudit(status="unknown", reason="no apt-get"),
    )
    engine = rt.databases.get(OWN_DATABASE)
    first = await save_report(engine, skipped, operation_id="op-1", step_key="op-1:0")
    second = await save_report(engine, skipped, operation_id="op-2", step_key="op-2:0")
    assert second > first

    found = await api.get("/security/report", as_="viewer")
    assert found.status_code == 200, found.text
    assert found.json()["id"] == second and found.json()["operation_id"] == "op-2"
    assert found.json()["status"] == "skipped"

    anonymous = await api.client.get("/security/report")
    assert anonymous.status_code == 401
