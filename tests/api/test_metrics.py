"""/metrics: gauges from the database, read without walking the history."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime
from triadops.storage.ledger import count_entries


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
    assert "op-" not in text


LEDGER_ROWS = re.compile(r"\bFROM\s+ledger\b(?!_)", re.IGNORECASE)
"""A statement that reads the ledger's rows (not its one-row head, ``ledger_head``)."""


async def test_the_ledger_gauge_reads_the_head_not_the_rows(api: Api, rt: Runtime) -> None:
    await api.submit(noop_request())
    await drive(rt)
    statements: list[str] = []

    def executed(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", executed)
    try:
        response = await api.client.get("/metrics")
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", executed)
    async with rt.session(read_only=True) as session:
        entries = await count_entries(session)
    assert entries > 5
    assert f"triad_ledger_entries {float(entries)}" in response.text.splitlines()
    assert any("ledger_head" in s for s in statements)
    assert not [s for s in statements if LEDGER_ROWS.search(s)], statements
