"""``GET /logs/analysis``: any role reads the server's log analysis; a bad range is a 422."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.fixtures.api import Api
from tests.ops.logs.corpus import line, write
from triadops.domain.clock import utcnow
from triadops.runtime import Runtime


async def test_any_role_reads_the_analysis_of_the_servers_logs(api: Api, rt: Runtime) -> None:
    now = utcnow()
    write(
        rt.settings.log_dir / "seeded.log",
        [line(now - timedelta(minutes=m), f"lease {m} lost", "error") for m in range(1, 6)],
    )
    found = await api.get("/logs/analysis", params={"since": "1h"}, as_="viewer")
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["sources"] == ["triad"] and body["truncated"] is False
    (template,) = [t for t in body["templates"] if t["template"] == "lease <NUM> lost"]
    assert template["count"] == 5 and template["trend"] == "new"
    assert any("5 errors" in said for said in body["insights"])


async def test_refusals(api: Api, client: httpx.AsyncClient) -> None:
    assert (await client.get("/logs/analysis")).status_code == 401
    bad = await api.get("/logs/analysis", params={"since": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "since" and "yesterday" in bad.json()["detail"]
    late = await api.get("/logs/analysis", params={"since": "1h", "until": "2000-01-01T00:00:00Z"})
    assert late.status_code == 422 and late.json()["field"] == "since"
    long = await api.get("/logs/analysis", params={"since": "2001-01-01"})
    assert long.status_code == 422 and "longer than 366 days" in long.json()["detail"]
    unknown = await api.get("/logs/analysis", params={"source": "nope"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "source"
    assert "known: triad" in unknown.json()["detail"]
