"""/metrics: gauges from the database, read without walking the history."""

from __future__ import annotations

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime


async def test_metrics_count_operations_by_status(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    await api.submit(noop_request())
    await drive(rt)
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'triad_operations{status="completed"} 2.0' in text
    assert 'triad_operations{status="scheduled"} 0.0' in text
    assert "triad_frozen 0.0" in text
    ledger = next(line for line in text.splitlines() if line.startswith("triad_ledger_entries "))
    assert float(ledger.split()[1]) > 10
    assert "op-" not in text
