"""``GET /procedures`` and submissions by procedure through the HTTP layer, both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.actions.procedures.test_files import GOOD_TOML
from tests.fixtures.api import Api, noop_request
from triadops.actions.procedures.catalogue import BUILTIN
from triadops.api.app import create_app
from triadops.settings import Settings


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with a user procedure ``deploy`` in ``$TRIAD_HOME/procedures``."""
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(GOOD_TOML)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


def deploy(**overrides: object) -> dict[str, object]:
    body = noop_request(procedure="deploy") | {"operation_type": "deployment"} | overrides
    body.pop("steps")
    return body


async def test_a_viewer_lists_and_reads_the_catalogue(api: Api, settings: Settings) -> None:
    listed = await api.get("/procedures", as_="viewer")
    assert listed.status_code == 200, listed.text
    lines = {line["name"]: line for line in listed.json()["items"]}
    assert list(lines) == sorted([*(f.stem for f in BUILTIN.glob("*.toml")), "deploy"])
    assert lines["deploy"] == {
        "name": "deploy",
        "description": "Deploy a tagged build",
        "risk": "medium",
        "operation_type": "deployment",
        "constitutional_authority": ["executive", "legislative"],
        "steps": 2,
        "source": str(settings.home / "procedures" / "deploy.toml"),
    }
    shown = await api.get("/procedures/deploy", as_="viewer")
    assert shown.status_code == 200, shown.text
    detail = shown.json()
    assert detail["params"]["tag"]["pattern"] == "v[0-9]+"
    assert detail["params"]["pause"]["type"] == "float"
    assert detail["steps"][0] == {
        "action": "noop",
        "params": {"sleep_s": "{pause}", "marker": "{tag}"},
    }
    assert len(detail["sha256"]) == 64


async def test_an_unknown_procedure_is_404_with_a_suggestion(api: Api) -> None:
    missing = await api.get("/procedures/deplo")
    assert missing.status_code == 404
    assert "unknown procedure 'deplo' (did you mean 'deploy'?)" in missing.json()["detail"]
    assert (await api.client.get("/procedures")).status_code == 401


async def test_procedure_params_are_checked_and_rendered(api: Api) -> None:
    created = await api.submit(deploy(procedure_params={"tag": "v3", "pause": 1}))
    assert created["plan"]["steps"][0]["params"]["sleep_s"] == 1
    assert created["plan"]["steps"][0]["params"]["marker"] == "v3"
    assert created["request"]["procedure_params"] == {"tag": "v3", "pause": 1}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (deploy(procedure_params={"tag": "latest"}), "procedure_params.tag"),
        (deploy(procedure_params={"tag": "v1", "pause": True}), "procedure_params.pause"),
        (deploy(procedure_params={"tag": "v1", "target": "prod"}), "procedure_params.target"),
        (noop_request(procedure_params={"tag": "v1"}), "procedure_params"),
        (deploy(operation_type="maintenance", procedure_params={"tag": "v1"}), "operation_type"),
    ],
)
async def test_a_bad_submission_is_422_naming_the_field_and_stores_nothing(
    api: Api, body: dict[str, object], field: str
) -> None:
    response = await api.post("/operations", as_="alice", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    listed = await api.get("/operations")
    assert listed.json()["items"] == []
