"""A command on hosts through the HTTP API: the selection checked before anything is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.actions.commands.declared import calls, deploy_spec
from tests.fixtures.api import Api, noop_request
from triadops.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tool: Path) -> Settings:
    """The API's settings: ``deploy`` on the web hosts; ``db1`` exists but is not allowed."""
    home = tmp_path / "home"
    home.mkdir()
    known = tmp_path / "known_hosts"
    known.touch()
    hosts = {
        name: {"address": "127.0.0.1", "user": "deploy", "tags": [tag]}
        for name, tag in (("web1", "web"), ("web2", "web"), ("db1", "db"))
    }
    return Settings(
        home=home,
        database_url=database_url,
        monitor=False,
        hosts=hosts,
        known_hosts=known,
        commands={"deploy": deploy_spec(tool, host_tags=["web"])},
    )


def _deploy(params: dict[str, Any]) -> dict[str, Any]:
    return noop_request(steps=[{"action": "command.deploy", "params": {"tag": "v1", **params}}])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hosts": ["db1"]}, "steps[0].params.hosts"),
        ({"hosts": ["ghost"]}, "steps[0].params.hosts"),
        ({"hosts": ["web1;id"]}, "steps[0].params.hosts.0"),
        ({"tags": ["db"]}, "steps[0].params.tags"),
        ({"max_fail_percent": 101.0}, "steps[0].params.max_fail_percent"),
        ({"failure_budget": -1}, "steps[0].params.failure_budget"),
    ],
    ids=["not-allowed", "unknown", "bad-name", "tag-not-allowed", "percent", "budget"],
)
async def test_a_selection_outside_the_declaration_is_422_and_stores_nothing(
    api: Api, tool: Path, params: dict[str, Any], field: str
) -> None:
    response = await api.post("/operations", as_="alice", json=_deploy(params))

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert (await api.get("/operations")).json()["items"] == []
    assert calls(tool) == []


async def test_the_served_schema_lists_the_host_selection(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()

    params = spec["components"]["schemas"]["Step.command.deploy"]["properties"]["params"]
    assert {"tag", "hosts", "tags", "batch_size", "max_fail_percent", "failure_budget"} <= set(
        params["properties"]
    )
    assert params["required"] == ["tag"] and params["additionalProperties"] is False
