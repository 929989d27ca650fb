"""``POST /operations`` with ``window``: placed in the window and answered with the time it is
due; an unknown window refused with its field; the request's ``window`` in the schema."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fixtures.api import Api, noop_request
from triadops.domain.clock import FakeClock

TUESDAY = datetime(2030, 3, 5, 12, 0, tzinfo=UTC)


async def test_a_submission_that_needs_a_window_answers_the_slot_it_got(
    api: Api, clock: FakeClock
) -> None:
    clock.advance((TUESDAY - clock.now()).total_seconds())

    created = await api.submit(noop_request(window="daily", scheduled_time=TUESDAY.isoformat()))

    assert created["status"] == "scheduled"
    assert created["request"]["window"] == "daily"
    assert created["request"]["scheduled_time"] == "2030-03-06T02:00:00Z"
    said = created["planning_result"]["scheduling_recommendation"]
    assert "is outside window daily" in said
    shown = await api.get(f"/operations/{created['operation_id']}")
    assert shown.json()["request"]["scheduled_time"] == "2030-03-06T02:00:00Z"


async def test_an_unknown_window_is_refused_naming_the_field(api: Api) -> None:
    refused = await api.post("/operations", as_="alice", json=noop_request(window="fortnightly"))

    assert refused.status_code == 422, refused.text
    assert "window" in refused.text and "fortnightly" in refused.text
    listed = await api.get("/operations")
    assert listed.json()["items"] == []


async def test_the_request_schema_documents_window(api: Api) -> None:
    schema = (await api.get("/openapi.json")).json()
    fields = schema["components"]["schemas"]["OperationRequest"]["properties"]
    assert "window" in fields
    assert "maintenance window" in fields["window"]["description"]
