"""Declared commands through the HTTP API: params checked before anything is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.actions.commands.declared import calls, deploy_spec
from tests.fixtures.api import Api, drive, noop_request
from triadops.runtime import Runtime
from triadops.settings import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tool: Path) -> Settings:
    """The API's settings, with ``deploy`` declared."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings(
        home=home, database_url=database_url, monitor=False, commands={"deploy": deploy_spec(tool)}
    )


def _deploy(params: dict[str, Any]) -> dict[str, Any]:
    return noop_request(steps=[{"action": "command.deploy", "params": params}])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "steps[0].params.tag"),
        ({"tag": 3}, "steps[0].params.tag"),
        ({"tag": "v1; rm -rf /"}, "steps[0].params.tag"),
        ({"tag": "v1", "argv": ["sh", "-c", "id"]}, "steps[0].params.argv"),
    ],
    ids=["missing", "type", "pattern", "undeclared"],
)
async def test_bad_params_are_422_naming_the_field_and_store_nothing(
    api: Api, tool: Path, params: dict[str, Any], field: str
) -> None:
    response = await api.post("/operations", as_="alice", json=_deploy(params))

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert (await api.get("/operations")).json()["items"] == []
    assert calls(tool) == []


async def test_a_declared_command_runs_and_shows_its_output(
    api: Api, rt: Runtime, tool: Path
) -> None:
    created = await api.submit(_deploy({"tag": "v4"}))
    await drive(rt)

    shown = (await api.get(f"/operations/{created['operation_id']}")).json()
    assert shown["status"] == "completed"
    assert shown["steps"][0]["output"]["stdout"] == "done deploy\n"
    assert calls(tool) == [["deploy", "v4"]]


async def test_the_served_schema_lists_the_declared_command(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()

    step = spec["components"]["schemas"]["Step.command.deploy"]
    params = step["properties"]["params"]
    assert params["properties"]["tag"]["type"] == "string"
    assert params["required"] == ["tag"] and params["additionalProperties"] is False
