"""``POST /runbooks/{name}/troubleshoot`` with ``investigate``: asked for, stored, never acting."""

from __future__ import annotations

from tests.fixtures.api import Api


async def test_an_investigation_is_asked_for_in_the_body_and_stored(api: Api) -> None:
    bad = await api.post(
        "/runbooks/data_inconsistency/troubleshoot",
        as_="alice",
        json={"resolve": False, "investigate": "maybe"},
    )
    assert bad.status_code == 422 and "investigate" in bad.text
    alone = await api.post(
        "/runbooks/data_inconsistency/troubleshoot",
        as_="alice",
        json={"resolve": False, "submit_proposal": True},
    )
    assert alone.status_code == 422 and "submit_proposal submits" in alone.text
    plain = await api.post(
        "/runbooks/data_inconsistency/troubleshoot", as_="alice", json={"resolve": False}
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["investigation"] is None
    asked = await api.post(
        "/runbooks/data_inconsistency/troubleshoot",
        as_="alice",
        json={"resolve": False, "investigate": True},
    )
    assert asked.status_code == 200, asked.text
    incident = asked.json()
    assert incident["investigation"]["status"] == "off"  # no model: it says so
    assert incident["chosen"] is None or incident["chosen"]["operation_id"] is None
    stored = await api.get(f"/incidents/{incident['id']}")
    assert stored.json()["investigation"] == incident["investigation"]
    markdown = await api.get(f"/incidents/{incident['id']}", params={"markdown": "true"})
    assert "## Investigation" in markdown.text and "- off (rules)" in markdown.text
    assert (await api.get("/operations")).json()["items"] == []
