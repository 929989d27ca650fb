from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from tests.fixtures.api import Api, high_risk_request
from triadops.actions.builtin import builtin_actions
from triadops.actions.procedures.catalogue import BUILTIN
from triadops.api.app import create_app
from triadops.runtime import Runtime
from triadops.settings import Settings

SCHEMAS = "#/components/schemas/"
OPERATION_IDS = {
    ("get", "/health"): "read_health",
    ("get", "/metrics"): "read_metrics",
    ("post", "/operations"): "submit_operation",
    ("get", "/operations"): "list_operations",
    ("get", "/operations/{operation_id}"): "read_operation",
    ("post", "/operations/{operation_id}/approve"): "approve_operation",
    ("post", "/operations/{operation_id}/reject"): "reject_operation",
    ("post", "/operations/{operation_id}/cancel"): "cancel_operation",
    ("post", "/operations/{operation_id}/acknowledge"): "acknowledge_operation",
    ("post", "/operations/{operation_id}/resolve"): "resolve_operation",
    ("put", "/operations/{operation_id}/steps"): "amend_operation",
    ("get", "/crown"): "read_crown",
    ("post", "/crown/freeze"): "freeze",
    ("post", "/crown/unfreeze"): "unfreeze",
    ("get", "/constitutional-health"): "read_constitutional_health",
    ("get", "/constitutional-health/history"): "list_constitutional_health",
    ("post", "/alerts"): "post_alerts",
    ("post", "/alerts/alertmanager"): "post_alertmanager_alerts",
    ("get", "/alerts"): "list_alerts",
    ("get", "/agents/health"): "read_agents_health",
    ("get", "/alerts/{alert_id}"): "read_alert",
    ("post", "/alerts/{alert_id}/ack"): "acknowledge_alert",
    ("post", "/alerts/{alert_id}/resolve"): "resolve_alert",
    ("get", "/silences"): "list_silences",
    ("post", "/silences"): "create_silence",
    ("post", "/silences/{silence_id}/expire"): "expire_silence",
    ("get", "/procedures"): "list_procedures",
    ("get", "/procedures/{name}"): "read_procedure",
}


@pytest.fixture
async def spec(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


def _operations(spec: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    return {
        operation["operationId"]: (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }


def test_operation_ids_are_stable_and_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    for (method, path), expected in OPERATION_IDS.items():
        assert spec["paths"][path][method]["operationId"] == expected


def test_a_submission_names_the_runtimes_catalogues(spec: dict[str, Any], rt: Runtime) -> None:
    schemas = spec["components"]["schemas"]
    fields = schemas["OperationSubmission"]["properties"]
    procedure = next(b for b in fields["procedure"]["anyOf"] if b.get("type") == "string")
    assert (
        procedure["enum"]
        == rt.procedures.names()
        == sorted(file.stem for file in BUILTIN.glob("*.toml"))
    )
    assert fields["validation_criteria"]["items"]["enum"] == rt.checks.names()
    assert fields["steps"]["items"] == {"$ref": SCHEMAS + "StepSpec-Input"}
    assert schemas["AmendBody"]["properties"]["steps"]["items"] == {
        "$ref": SCHEMAS + "StepSpec-Input"
    }

    step = schemas["StepSpec-Input"]
    assert step["discriminator"]["propertyName"] == "action"
    assert sorted(step["discriminator"]["mapping"]) == rt.actions.names()
    for name, ref in step["discriminator"]["mapping"].items():
        one = schemas[ref.removeprefix(SCHEMAS)]
        assert one["properties"]["action"] == {"const": name}
        assert one["additionalProperties"] is False
    purge = schemas["Step.database.purge_audit_logs"]["properties"]["params"]
    assert purge["properties"]["target"]["enum"] == rt.databases.names()
    assert purge["properties"]["older_than_days"]["maximum"] == 36500
    assert purge["properties"]["table"]["pattern"] == "^[^\\x00]*$"
    assert purge["additionalProperties"] is False


def test_what_is_stored_is_described_as_it_is(spec: dict[str, Any]) -> None:
    """Responses are not narrowed: an action removed later must not make old answers invalid."""
    stored = spec["components"]["schemas"]["OperationRequest"]["properties"]
    assert stored["steps"]["items"] == {"$ref": SCHEMAS + "StepSpec"}
    assert "enum" not in stored["validation_criteria"]["items"]


def test_which_fields_go_together_is_stated(spec: dict[str, Any]) -> None:
    together = spec["components"]["schemas"]["OperationSubmission"]["allOf"]
    one_of = next(part["oneOf"] for part in together if "oneOf" in part)
    assert [branch.get("required") for branch in one_of] == [["procedure"], ["steps"], None]
    assert one_of[2]["properties"] == {
        "procedure": {"type": "null"},
        "steps": {"maxItems": 0},
        "procedure_params": {"maxProperties": 0},
    }
    assert one_of[1]["properties"]["procedure_params"] == {"maxProperties": 0}
    emergency = next(part["anyOf"] for part in together if "anyOf" in part)
    assert {"emergency_priority": {"const": False}} in [b["properties"] for b in emergency]
    assert {"constitutional_authority": {"const": "crown"}} in [b["properties"] for b in emergency]
    fields = spec["components"]["schemas"]["OperationSubmission"]["properties"]
    assert fields["description"] | {"title": None} == {
        "type": "string",
        "minLength": 1,
        "maxLength": 2000,
        "pattern": "^[^\\x00]*$",
        "title": None,
    }
    assert fields["operation_id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
    listing = spec["paths"]["/operations"]["get"]["parameters"]
    offset = next(p for p in listing if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 1_000_000_000


def test_every_problem_is_documented_as_problem_json(spec: dict[str, Any]) -> None:
    assert "Problem" in spec["components"]["schemas"]
    for operation_id, (_, _, operation) in _operations(spec).items():
        for code, response in operation["responses"].items():
            if int(code) >= 400 and operation_id not in ("read_health", "read_readiness"):
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": SCHEMAS + "Problem"}}
                }, (operation_id, code)


def test_routes_declare_the_answers_they_give(spec: dict[str, Any]) -> None:
    by_id = _operations(spec)
    assert set(by_id["submit_operation"][2]["responses"]) == {
        "200",
        "201",
        "401",
        "403",
        "409",
        "413",
        "422",
    }
    assert set(by_id["read_operation"][2]["responses"]) == {"200", "401", "404", "422"}
    assert set(by_id["read_crown"][2]["responses"]) == {"200", "401"}
    assert set(by_id["approve_operation"][2]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
    }
    created = by_id["submit_operation"][2]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": SCHEMAS + "OperationView"}


async def test_links_from_a_submission_lead_to_that_operation(
    spec: dict[str, Any], api: Api
) -> None:
    by_id = _operations(spec)
    links = by_id["submit_operation"][2]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} >= {
        "read_operation",
        "approve_operation",
        "reject_operation",
        "cancel_operation",
        "amend_operation",
    }
    created = await api.submit(high_risk_request())

    def value(expression: str) -> Any:
        assert expression.startswith("$response.body#/")
        return created[expression.removeprefix("$response.body#/")]

    who = {"approve_operation": "bob", "reject_operation": "bob", "resolve_operation": "judge"}
    bodies: dict[str, Any] = {
        "reject_operation": {"reason": "not now"},
        "amend_operation": {"steps": [{"action": "noop"}]},
    }
    for link in links.values():
        method, path, operation = by_id[link["operationId"]]
        for name, expression in link["parameters"].items():
            path = path.replace(f"{{{name}}}", value(expression))
        body = {
            **bodies.get(link["operationId"], {}),
            **{k: value(v) for k, v in link.get("requestBody", {}).items()},
        }
        as_ = who.get(link["operationId"], "carol")
        response = await api.client.request(method, path, json=body or None, headers=api.auth(as_))
        assert response.status_code != 404, (link, response.text)
        assert str(response.status_code) in operation["responses"], (link, response.text)
        if link["operationId"] in ("read_operation", "approve_operation"):
            assert response.status_code == 200, (link, response.text)


def test_before_a_runtime_is_open_the_spec_names_the_built_in_actions(
    settings: Settings,
) -> None:
    app: FastAPI = create_app(settings)
    mapping = app.openapi()["components"]["schemas"]["StepSpec-Input"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(a.name for a in builtin_actions())
