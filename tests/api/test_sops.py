"""SOPs through the API: refusals with the SOP's reason, the catalogue, the crown's review."""

from __future__ import annotations

from typing import Any

from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime

PROBE = "system_functionality_maintained"


def deployment(**fields: Any) -> dict[str, Any]:
    return noop_request(
        **{"operation_type": "deployment", "validation_criteria": [PROBE], **fields}
    )


async def deployed(api: Api, rt: Runtime, operation_id: str) -> dict[str, Any]:
    """Submit a deployment that fits SOP-001, have bob approve it and a worker run it."""
    op = await api.submit(deployment(operation_id=operation_id))
    assert op["status"] == "awaiting_approval"
    assert (await api.approve(operation_id, as_="bob")).status_code == 200
    await drive(rt)
    assert await api.status(operation_id) == "completed"
    return op


async def test_each_sops_missing_part_is_the_rejection_reason(api: Api) -> None:
    cases = {
        "SOP-001 deployment needs a functional probe": noop_request(operation_type="deployment"),
        "SOP-003 configuration-change needs affected_systems": noop_request(
            operation_type="configuration",
            rollback_plan="restore the file",
            validation_criteria=[PROBE],
        ),
        "SOP-003 configuration-change needs a rollback_plan": noop_request(
            operation_type="configuration", affected_systems=["api"], validation_criteria=[PROBE]
        ),
        "SOP-002 incident-response requires crown authority": noop_request(
            operation_type="emergency"
        ),
    }
    for said, body in cases.items():
        op = await api.submit(body)
        assert op["status"] == "rejected", said
        assert op["status_reason"].startswith(said), op["status_reason"]
        assert op["timeline"][-1]["details"]["reason"] == op["status_reason"]
    # A dry run says the same and stores nothing.
    dry = await api.post("/operations", as_="alice", params={"dry_run": "true"}, json=deployment())
    assert dry.status_code == 200
    assert dry.json()["planning_result"]["required_approvals"] == ["legislative"]


async def test_a_name_that_is_no_check_is_still_a_422(api: Api) -> None:
    response = await api.post(
        "/operations", as_="alice", json=deployment(validation_criteria=["http_probe.nowhere"])
    )
    assert response.status_code == 422
    assert response.json()["field"] == "validation_criteria[0]"


async def test_the_catalogue_is_listed_and_read_by_id_or_name(api: Api) -> None:
    listed = await api.get("/sops")
    assert listed.status_code == 200
    assert [s["id"] for s in listed.json()["items"]] == ["SOP-001", "SOP-002", "SOP-003", "SOP-004"]
    one = await api.get("/sops/deployment")
    assert one.status_code == 200
    body = one.json()
    assert (body["id"], body["approvals"], body["review"], body["reviews_due"]) == (
        "SOP-001",
        ["legislative"],
        True,
        [],
    )
    assert [p["branch"] for p in body["phases"]] == [
        "legislative",
        "executive",
        "judicial",
        "crown",
    ]
    missing = await api.get("/sops/SOP-404")
    assert missing.status_code == 404
    assert "known: SOP-001 (deployment)" in missing.json()["detail"]
    assert (await api.get("/sops/a%2Fb")).status_code in (404, 422)
    assert (await api.client.get("/sops")).status_code == 401


async def test_the_crown_reviews_a_deployment_once_and_it_is_no_longer_due(
    api: Api, rt: Runtime
) -> None:
    await deployed(api, rt, "dep-1")
    due = (await api.get("/sops/SOP-001")).json()["reviews_due"]
    assert [(d["operation_id"], d["status"]) for d in due] == [("dep-1", "completed")]
    path = "/operations/dep-1/review"
    body = {"lessons": "the probe caught nothing; keep it", "note": "INC-7"}
    # Oversight is the crown's: a legislative or executive token is refused, changing nothing.
    for who in ("bob", "alice", "judge", "viewer"):
        refused = await api.post(path, as_=who, json=body)
        assert refused.status_code == 403, who
    assert (await api.post(path, as_="carol", json={"lessons": "  "})).status_code == 422
    assert (await api.post(path, as_="carol", json={"lessons": "x", "extra": 1})).status_code == 422
    reviewed = await api.post(path, as_="carol", json=body)
    assert reviewed.status_code == 200, reviewed.text
    shown = reviewed.json()
    assert shown["review"]["reviewed_by"] == "carol"
    assert (shown["review"]["lessons"], shown["review"]["note"]) == (body["lessons"], "INC-7")
    assert shown["timeline"][-1]["event"] == "change_reviewed"
    assert shown["timeline"][-1]["details"] == body
    again = await api.post(path, as_="edward", json={"lessons": "mine too"})
    assert again.status_code == 409
    assert "was reviewed by carol" in again.json()["detail"]
    assert (await api.get("/sops/SOP-001")).json()["reviews_due"] == []
    verified = (await api.get("/audit/verify")).json()
    assert verified["ok"] is True, verified


async def test_a_review_waits_for_the_end_and_is_not_the_requesters(api: Api, rt: Runtime) -> None:
    pending = await api.submit(deployment(operation_id="dep-2"))
    early = await api.post("/operations/dep-2/review", as_="carol", json={"lessons": "soon"})
    assert early.status_code == 409
    assert "awaiting_approval" in early.json()["detail"]
    assert pending["review"] is None
    emergency = noop_request(
        operation_type="emergency", constitutional_authority="crown", operation_id="inc-1"
    )
    await api.submit(emergency, as_="carol")
    await drive(rt)
    assert await api.status("inc-1") == "completed"
    due = (await api.get("/sops/incident-response")).json()["reviews_due"]
    assert [d["operation_id"] for d in due] == ["inc-1"]
    own = await api.post("/operations/inc-1/review", as_="carol", json={"lessons": "fine"})
    assert own.status_code == 403
    assert "carol requested inc-1" in own.json()["detail"]
    other = await api.post("/operations/inc-1/review", as_="edward", json={"lessons": "fine"})
    assert other.status_code == 200
    missing = await api.post("/operations/nope/review", as_="edward", json={"lessons": "x"})
    assert missing.status_code == 404
