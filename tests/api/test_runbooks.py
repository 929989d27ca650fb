"""Runbooks through the API: a viewer reads them; nobody unauthenticated; mistakes are 4xx."""

from __future__ import annotations

from tests.fixtures.api import Api


async def test_a_viewer_lists_and_reads_the_runbooks(api: Api) -> None:
    listed = await api.get("/runbooks")
    assert listed.status_code == 200, listed.text
    names = [e["runbook"]["name"] for e in listed.json()["items"]]
    assert names == [
        "constitutional_compliance_failure",
        "data_inconsistency",
        "high_response_time",
    ]
    one = await api.get("/runbooks/data_inconsistency")
    assert one.status_code == 200
    assert one.json()["runbook"]["resolutions"][0]["procedure"] == "backup_database"


async def test_no_token_no_runbooks_and_bad_names_are_refused(api: Api) -> None:
    assert (await api.client.get("/runbooks")).status_code == 401
    missing = await api.get("/runbooks/nothing_here")
    assert missing.status_code == 404 and "nothing_here" in missing.text
    assert (await api.get("/runbooks/Not-A-Name")).status_code == 422


async def test_troubleshooting_needs_an_operator_and_documents_the_run(api: Api) -> None:
    refused = await api.post(
        "/runbooks/data_inconsistency/troubleshoot", as_="viewer", json={"resolve": False}
    )
    assert refused.status_code == 403
    bad = await api.post(
        "/runbooks/data_inconsistency/troubleshoot", as_="alice", json={"wait_s": 9999}
    )
    assert bad.status_code == 422 and "wait_s" in bad.text
    run = await api.post(
        "/runbooks/data_inconsistency/troubleshoot",
        as_="alice",
        json={"resolution": "re_sync_data", "wait_s": 0},
    )
    assert run.status_code == 200, run.text
    incident = run.json()
    # Nothing drives it within 0 s: the incident waits on it, submitted in alice's own name.
    assert incident["status"] == "resolving"
    assert incident["chosen"]["resolution"] == "re_sync_data"
    op = await api.get(f"/operations/{incident['chosen']['operation_id']}")
    assert op.json()["request"]["requested_by"] == "alice"
    listed = await api.get("/incidents")
    assert [i["id"] for i in listed.json()["items"]] == [incident["id"]]
    markdown = await api.get(f"/incidents/{incident['id']}", params={"markdown": "true"})
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# Incident {incident['id']}: Data inconsistency")
    assert (await api.get("/incidents/inc-000000000000")).status_code == 404
    assert (await api.get("/incidents/../etc")).status_code in (404, 422)
    assert (await api.client.get("/incidents")).status_code == 401
