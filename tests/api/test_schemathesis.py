"""Schemathesis over the served spec: no 5xx, and every answer is one the spec states.

The app runs in process on schemathesis' own event loop (its ASGI client starts the
lifespan, so the runtime opens there); tokens are issued beforehand through a runtime of
their own. Generation is seeded, derandomized and bounded per operation, so a failure
found here is found again on the next run.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures.api import ROLES, Api
from triadops.api.app import create_app
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.domain.enums import Role
from triadops.runtime import Runtime
from triadops.settings import Settings

SEED = 20240611
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = hypothesis.settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.generate],
)
"""Repeatable: with `SEED`, no example database; bounded, and no deadline (it is I/O).

No shrinking: the database keeps what earlier calls stored, so a shrunk replay would not
meet the same state; the first failure is reported as it happened.
"""
SCENARIOS = hypothesis.settings(BOUNDED, max_examples=30, stateful_step_count=8)
"""Stateful: thirty scenarios of up to eight calls each."""

EVERY_AUTHORITY = [Role.LEGISLATIVE, Role.EXECUTIVE, Role.JUDICIAL, Role.CROWN]
"""The roles of ``operator``: whatever authority a generated request invokes, it holds it."""


async def _issue_token(settings: Settings, who: str) -> str:
    roles = ROLES.get(who, EVERY_AUTHORITY)
    runtime = await Runtime.open(settings, migrate=False)
    try:
        async with runtime.session() as session:
            _, secret = await create_token(session, name=who, roles=roles, by="test")
            await lifecycle.commit(session)
    finally:
        await runtime.close()
    return secret


def _bearer(settings: Settings, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {asyncio.run(_issue_token(settings, who))}"}


@pytest.fixture(autouse=True)
def only_hypothesis_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Hypothesis from drawing string constants mined from our own modules.

    It mines the source of every loaded local module and caches the result per draw kind
    for the process, so a new string anywhere in triadops (or another test loaded first)
    would change what the seeded scenarios generate.
    """
    monkeypatch.setattr(providers, "_get_local_constants", Constants)
    monkeypatch.setattr(providers, "CONSTANTS_CACHE", type(providers.CONSTANTS_CACHE)(1024))


@pytest.fixture
def served(settings: Settings) -> Iterator[FastAPI]:
    """The app as served; schemathesis starts its lifespan, which is shut down afterwards."""
    app = create_app(settings)
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


def _spec(app: FastAPI) -> Any:
    """Load the spec the app serves at /openapi.json, through the app itself."""
    return schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=schemathesis.Config(seed=SEED)
    )


def _no_waiting(case: Any) -> None:
    """Nothing drives operations here: a troubleshooting run's wait for one only waits."""
    if case.path.endswith("/troubleshoot") and isinstance(case.body, dict):
        case.body["wait_s"] = 0


@pytest.mark.parametrize("who", ["alice", "carol", "viewer"])
def test_every_operation_answers_as_documented(
    served: FastAPI, settings: Settings, who: str, subtests: pytest.Subtests
) -> None:
    """Valid and invalid input alike, as an operator, the crown and a viewer."""
    auth = _bearer(settings, who)
    for result in _spec(served).get_all_operations():
        operation = result.ok()
        cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @hypothesis.seed(SEED)
        @BOUNDED
        @hypothesis.given(case=cases)
        def answers_as_documented(case: Any) -> None:
            _no_waiting(case)
            case.call_and_validate(headers=auth, checks=CHECKS)

        with subtests.test(msg=operation.label):
            answers_as_documented()


def test_following_links_from_a_submission_answers_as_documented(
    served: FastAPI, settings: Settings
) -> None:
    """Submit, then follow the 201's links: read, approve, reject, cancel, amend…"""
    auth = _bearer(settings, "operator")
    spec = _spec(served)
    spec.config.generation.update(modes=[GenerationMode.POSITIVE], with_security_parameters=False)
    followed: set[str] = set()
    """Per-operation endpoints that answered 200: reached through a submission's links."""
    submitted = itertools.count(1)

    class Scenario(spec.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            _no_waiting(case)
            if case.path.endswith("/troubleshoot") and isinstance(case.body, dict):
                # A diagnosis follows this machine's load (a CPU symptom or not); with a
                # resolution, its operation's id would decide which links there are to
                # follow, and Hypothesis needs the same choices to give the same scenario.
                case.body["resolve"] = False
                case.body["submit_proposal"] = False
            # Scenarios share one database: a generated id taken by an earlier scenario
            # would answer 409 where the same choices once gave 201, which Hypothesis
            # rightly calls flaky. Each submission gets an id of its own instead.
            if case.operation.label == "POST /operations" and isinstance(case.body, dict):
                case.body["operation_id"] = f"scenario-{next(submitted)}"
                if not case.body.get("steps") and not case.body.get("procedure"):
                    # A description alone is for a planner agent to draft, and these
                    # scenarios run on the rules (which refuse it, 422): give it a step.
                    case.body.pop("procedure", None)
                    case.body["steps"] = [{"action": "noop", "params": {}}]
                elif case.body.get("procedure"):
                    # A procedure's type and params are its declaration's (GET
                    # /procedures/{name}), not the schema's: the built-in ones are
                    # maintenance and take none.
                    case.body["operation_type"] = "maintenance"
                    case.body.pop("procedure_params", None)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            if "{operation_id}" in case.path and response.status_code == 200:
                followed.add(case.operation.label)
            case.validate_response(response, checks=CHECKS, headers=auth)

    Scenario.run(settings=SCENARIOS)
    assert followed, "no scenario reached an operation it had submitted"


@pytest.mark.parametrize(
    "body", [b'{"description": "\xff"}', b"[" * 100_000], ids=["not-utf8", "too-deep"]
)
async def test_a_body_that_does_not_decode_is_422_not_400(api: Api, body: bytes) -> None:
    """Found by schemathesis: FastAPI answers these with a bare 400 nobody documented."""
    headers = {**api.auth("alice"), "content-type": "application/json"}
    response = await api.client.post("/operations", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "body"
    assert (await api.get("/operations")).json()["items"] == []
