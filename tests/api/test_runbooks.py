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
