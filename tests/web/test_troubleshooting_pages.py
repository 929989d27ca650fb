"""The console's incidents, runbooks and logs pages in process (the API's app over ASGI).

Doors of "running the log analysis from the page": no CSRF token, another session's CSRF
token, a bad ``since`` (not a duration, too long a range, too many characters), an unknown
source; each refused with the latest analysis unchanged. Any signed-in role may run it, as
the API's ``GET /logs/analysis`` allows any valid token.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from tests.fixtures.api import Api
from tests.ops.logs.corpus import line, write
from tests.web.test_pages import csrf, page, sign_in
from triadops.constitution import lifecycle
from triadops.domain.clock import utcnow
from triadops.domain.runbooks import Chosen, Finding, Incident, IncidentStep
from triadops.runtime import Runtime
from triadops.storage.incidents import save_incident

HOSTILE = "<script>alert(1)</script><b>x</b>"


async def plant_incident(rt: Runtime, incident_id: str, *, minutes_ago: int = 0) -> Incident:
    """Store an incident report whose text a person or a log wrote as HTML."""
    at = utcnow() - timedelta(minutes=minutes_ago)
    incident = Incident(
        id=incident_id,
        runbook="data_inconsistency",
        title=f"Title {HOSTILE}",
        status="unresolved",
        trigger=f"alert:7 {HOSTILE}",
        opened_by="alice",
        opened_at=at,
        diagnosis=[Finding(name="recent_errors", kind="logs", symptom=True, detail=HOSTILE)],
        chosen=Chosen(resolution="re_sync_data", procedure="backup_database", status="failed"),
        timeline=[IncidentStep(at=at, phase="diagnose", what=HOSTILE)],
    )
    async with rt.session() as session:
        await save_incident(
            session,
            incident_id=incident.id,
            runbook=incident.runbook,
            status=incident.status,
            opened_at=at,
            operation_id=None,
            report=incident.model_dump(mode="json"),
        )
        await lifecycle.commit(session)
    return incident


async def test_an_incident_its_runbook_and_its_operation_link_up(
    api: Api, client: httpx.AsyncClient, rt: Runtime
) -> None:
    run = await api.post(
        "/runbooks/data_inconsistency/troubleshoot",
        as_="alice",
        json={"resolution": "re_sync_data", "wait_s": 0},
    )
    assert run.status_code == 200, run.text
    incident = run.json()
    operation_id = incident["chosen"]["operation_id"]
    await plant_incident(rt, "inc-00000000beef", minutes_ago=5)
    viewer = await sign_in(client, api.tokens["viewer"])
    listing = await page(client, viewer, "/incidents")
    assert listing.index(incident["id"]) < listing.index("inc-00000000beef")  # newest first
    assert f'/console/operations/{operation_id}"' in listing
    only = await page(client, viewer, "/incidents?status=unresolved")
    assert "inc-00000000beef" in only and incident["id"] not in only
    detail = await page(client, viewer, f"/incidents/{incident['id']}")
    assert f'href="/console/operations/{operation_id}"' in detail
    assert "re_sync_data" in detail and "check_replication_status" in detail
    hostile = await page(client, viewer, "/incidents/inc-00000000beef")
    assert HOSTILE not in hostile and "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile
    runbooks = await page(client, viewer, "/runbooks")
    assert 'href="/console/runbooks/data_inconsistency"' in runbooks
    record = await page(client, viewer, "/runbooks/data_inconsistency")
    assert "1 unresolved" in record and "runbook=data_inconsistency" in record
    assert "re_sync_data" in record and "implement_consistency_checks" in record
    of_runbook = await page(client, viewer, "/incidents?runbook=data_inconsistency")
    assert incident["id"] in of_runbook and "inc-00000000beef" in of_runbook
    assert "inc-" not in (await page(client, viewer, "/incidents?runbook=high_response_time"))


async def test_incidents_page_by_cursor(api: Api, client: httpx.AsyncClient, rt: Runtime) -> None:
    for n in range(27):
        await plant_incident(rt, f"inc-{n:012x}", minutes_ago=n)
    bob = await sign_in(client, api.tokens["bob"])
    first = await page(client, bob, "/incidents?status=unresolved")
    assert "inc-000000000000" in first and "inc-000000000018" in first
    assert "inc-000000000019" not in first
    link = first.split('class="next" href="/console', 1)[1].split('"', 1)[0]
    second = await page(client, bob, link.replace("&amp;", "&"))
    assert "inc-000000000019" in second and "inc-00000000001a" in second
    assert "inc-000000000000" not in second and 'class="next"' not in second
    cursor = link.split("cursor=", 1)[1]
    other = await client.get(f"/console/incidents?status=resolved&cursor={cursor}", headers=bob)
    assert other.status_code == 422 and "made for other filters" in other.text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/incidents?status=sideways", 422, "not an incident status"),
        ("/incidents?cursor=garbage", 422, "cursor"),
        ("/incidents?runbook=No%20Such", 422, "not a runbook name"),
        ("/incidents/inc-000000000bad", 404, "no incident"),
        ("/incidents/op-nope", 422, "not an incident id"),
        ("/runbooks/no_such_runbook", 404, "no runbook"),
    ],
)
async def test_bad_addresses_say_why(
    api: Api, client: httpx.AsyncClient, path: str, status: int, says: str
) -> None:
    bob = await sign_in(client, api.tokens["bob"])
    answer = await client.get(f"/console{path}", headers=bob)
    assert answer.status_code == status and says in answer.text, answer.text


def _log(rt: Runtime, event: str) -> None:
    at = utcnow() - timedelta(minutes=5)
    write(rt.settings.log_dir / "planted.log", [line(at, event, "error", "system")])


async def test_a_viewer_runs_the_log_analysis_and_sees_lines_as_text(
    api: Api, client: httpx.AsyncClient, rt: Runtime
) -> None:
    _log(rt, f"{HOSTILE} failed: password=opensesame1")
    viewer = await sign_in(client, api.tokens["viewer"])
    empty = await page(client, viewer, "/logs")
    assert 'id="no-analysis"' in empty
    ran = await client.post(
        "/console/logs", data={"csrf": csrf(empty), "since": "1h"}, headers=viewer
    )
    assert ran.status_code == 303 and ran.headers["location"] == "/console/logs"
    shown = await page(client, viewer, "/logs")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and HOSTILE not in shown
    assert "opensesame1" not in shown and "asked by viewer" in shown
    assert 'value="1h"' in shown


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"since": "yesterday-ish"}, 422, "neither a duration"),
        ({"since": "400d"}, 422, "between 1s and 366d"),
        ({"since": "1" * 41 + "h"}, 422, "longer than 40 characters"),
        ({"since": "2000-01-01T00:00:00Z"}, 422, "longer than"),
        ({"since": "1h", "source": "nowhere"}, 404, "no log source"),
        ({"since": "1h", "source": "s" * 201}, 422, "source: longer than 200 characters"),
        ({"since": "1h", "csrf": "0" * 64}, 403, "CSRF"),
        ({"since": "1h", "csrf": None}, 403, "CSRF"),
    ],
)
async def test_a_bad_analysis_request_says_why_and_keeps_the_latest(
    api: Api,
    client: httpx.AsyncClient,
    rt: Runtime,
    fields: dict[str, str | None],
    status: int,
    says: str,
) -> None:
    _log(rt, "disk 3 full")
    eve = await sign_in(client, api.tokens["eve"])
    token = csrf(await page(client, eve, "/logs"))
    first = await client.post("/console/logs", data={"csrf": token, "since": "2h"}, headers=eve)
    assert first.status_code == 303
    before = await page(client, eve, "/logs")
    form = {"csrf": token, **fields}
    sent = {k: v for k, v in form.items() if v is not None}
    refused = await client.post("/console/logs", data=sent, headers=eve)
    assert refused.status_code == status and says in refused.text, refused.text
    after = await page(client, eve, "/logs")
    assert "disk &lt;NUM&gt; full" in after
    assert _analysis(after) == _analysis(before)


def _analysis(text: str) -> str:
    """The latest analysis' section of the page (the form's echoed values left out)."""
    return text.split('id="analysis"', 1)[1]


async def test_one_analysis_runs_at_a_time(
    api: Api, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_in(client, api.tokens["alice"])
    token = csrf(await page(client, alice, "/logs"))
    (console,) = [r for r in app.routes if isinstance(r, Mount) and r.path == "/console"]
    assert isinstance(console.app, FastAPI)
    held = console.app.state.log_analysis
    async with held.running:  # as if another person's analysis were reading the files
        busy = await client.post(
            "/console/logs", data={"csrf": token, "since": "1h"}, headers=alice
        )
    assert busy.status_code == 409 and "running already" in busy.text
    assert held.analysis is None
    ran = await client.post("/console/logs", data={"csrf": token, "since": "1h"}, headers=alice)
    assert ran.status_code == 303 and held.analysis is not None and held.by == "alice"
