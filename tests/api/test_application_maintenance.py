"""``/maintenance/application`` through HTTP: the server's own plan, submitted as the caller."""

from __future__ import annotations

import pytest

from tests.fixtures.api import Api, drive
from triadops.runtime import Runtime

ALWAYS = ["cache.cleanup", "performance.analysis", "performance.baseline"]


async def test_the_plan_says_what_runs_and_what_is_not_declared(api: Api) -> None:
    answer = await api.get("/maintenance/application")
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert [s["action"] for s in plan["request"]["steps"]] == ALWAYS
    assert plan["request"]["validation_criteria"] == [
        "agents_healthy",
        "performance_within_baseline",
        "system_functionality_maintained",
    ]
    assert plan["note"].startswith("no pull or restart command is declared")


async def test_submitted_in_the_callers_name_and_judged(api: Api, rt: Runtime) -> None:
    answer = await api.post("/maintenance/application", as_="eve")
    assert answer.status_code == 202, answer.text
    assert answer.json()["note"].startswith("no pull or restart command is declared")
    await drive(rt)
    shown = (await api.get(answer.json()["location"])).json()
    assert shown["status"] == "completed", shown["status_reason"]
    assert shown["request"]["requested_by"] == "eve"
    assert [s["action"] for s in shown["steps"]] == ALWAYS
    assert shown["validation_result"]["passed"] is True


@pytest.mark.parametrize("who", ["viewer", "judge", "carol"])
async def test_only_executive_or_legislative_callers_may_submit(api: Api, who: str) -> None:
    answer = await api.post("/maintenance/application", as_=who)
    assert answer.status_code == 403, answer.text
    assert (await api.get("/operations")).json()["items"] == []
