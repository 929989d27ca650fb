"""``triad serve`` left running submits a routine task by itself when it falls due.

A real server process (its worker's monitoring loop leads and runs the scheduler) on the
test's database, a user task due every minute; the test waits on the condition (the task's
run stored and ended), with a generous deadline, never on a guessed duration.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.cli.conftest import Server
from tests.fixtures.tasks import task, write_drill
from triadops.settings import Settings

pytestmark = pytest.mark.slow

TABLE = json.dumps(
    {
        "seed_tasks": False,
        "every_s": 1,
        "late_after_s": 60,
        "tasks": [task(cron="* * * * *").model_dump(mode="json")],
    }
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    write_drill(settings.home)
    return settings


@pytest.fixture
def server_env() -> dict[str, str]:
    return {"TRIAD_MAINTENANCE": TABLE, "TRIAD_MONITOR": "true", "TRIAD_MONITOR_TICK_S": "0.2"}


def test_a_running_server_submits_a_due_task_by_itself(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    deadline = time.monotonic() + 180  # a minute boundary must pass first
    drill: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = httpx.get(f"{server.url}/maintenance/tasks", headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text
        drill = answer.json()["items"][0]
        if drill["last_result"] not in (None, "pending"):
            break
        time.sleep(0.5)
    assert drill["last_result"] == "completed", (drill, server.log.read_text()[-3000:])
    op_id = str(drill["last_operation_id"])
    assert op_id.startswith("mt-drill-")
    shown = httpx.get(f"{server.url}/operations/{op_id}", headers=auth, timeout=10).json()
    assert shown["request"]["requested_by"] == "triad:scheduler"
    assert shown["status"] == "completed"
