"""The planner may draft from declared procedures only: offered those that fit, held to them.

On a FunctionModel; the runtime loads a real procedure file ``deploy`` (a deployment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.actions.procedures.test_files import GOOD_TOML
from tests.agents.test_planner import described, drafts
from tests.agents.triad import with_agents
from tests.constitution.test_advisors import submit_with
from triadops.domain.enums import OperationStatus, Risk
from triadops.runtime import Runtime
from triadops.settings import Settings


@pytest.fixture(params=["medium", "critical"])
async def rt(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    """The runtime, with ``deploy`` declared at medium risk (its riskiest step's) or critical."""
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(
        GOOD_TOML.replace('risk = "medium"', f'risk = "{request.param}"')
    )
    runtime = await Runtime.open(settings, migrate=False)
    try:
        yield runtime
    finally:
        await runtime.close()


def deployment(**fields: Any) -> Any:
    return described(operation_type="deployment", **fields)


async def test_a_fitting_procedure_is_offered_and_drafted_with_its_risk(rt: Runtime) -> None:
    planner = drafts([], procedure="deploy", procedure_params={"tag": "v4"})
    op = await submit_with(rt, with_agents(rt, planner=planner), deployment())
    assert op.status is OperationStatus.AWAITING_APPROVAL, op.status_reason
    assert op.plan is not None
    assert [s.action for s in op.plan.steps] == ["noop", "database.purge_audit_logs"]
    assert op.plan.steps[0].params["marker"] == "v4"
    # The procedure's criteria and rollback plan stand where the request gave none, as when a
    # request names it (SOP-001 would refuse a deployment without a functional check).
    procedure = rt.procedures.get("deploy")
    assert op.plan.validation_criteria == procedure.validation_criteria
    assert op.plan.rollback_plan == procedure.rollback_plan
    assert op.planning_result is not None
    declared = rt.procedures.get("deploy").risk
    # The rules score the drafted steps (medium: the riskiest step, with the procedure's
    # rollback plan); the declared risk is a floor over that and over the model's "low".
    assert op.planning_result.risk_level is max(Risk.MEDIUM, declared, key=lambda r: r.rank)
    assert "planner: drafted procedure deploy" in op.planning_result.advice
    assert '"procedure": "deploy"' in planner.seen[0]
    # A maintenance request is not offered a deployment procedure.
    other = drafts([{"action": "noop"}])
    await submit_with(rt, with_agents(rt, planner=other), described())
    assert '"procedure": "deploy"' not in other.seen[0]
    assert '"procedure": "cache_cleanup"' in other.seen[0]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"procedure": "rm_everything"}, "drafted procedure: unknown procedure 'rm_everything'"),
        (
            {"procedure": "cache_cleanup"},
            "drafted procedure: cache_cleanup is not for a deployment request",
        ),
        (
            {"procedure": "deploy", "procedure_params": {"tag": "v1; rm -rf /"}},
            "drafted procedure deploy: procedure_params.tag: does not match the pattern",
        ),
        (
            {"procedure": "deploy", "procedure_params": {"tag": "v1", "host": "evil"}},
            "procedure_params.host: deploy declares no parameter 'host'",
        ),
    ],
)
async def test_a_drafted_procedure_outside_the_catalogue_or_its_params_is_rejected(
    rt: Runtime, fields: dict[str, Any], reason: str
) -> None:
    op = await submit_with(rt, with_agents(rt, planner=drafts([], **fields)), deployment())
    assert op.status is OperationStatus.REJECTED
    assert op.status_reason is not None and reason in op.status_reason, op.status_reason
    assert op.plan is not None and op.plan.steps == []
