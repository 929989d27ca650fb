"""Submitting a procedure: its parameters checked and rendered, its authority and type held.

Both databases; the runtime loads a real procedure file from ``$TRIAD_HOME/procedures``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.actions.procedures.test_files import GOOD_TOML
from tests.fixtures.pipeline import ALICE, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import preview_operation, submit_operation
from triadops.domain.chain import plan_hash
from triadops.domain.enums import Risk, Role
from triadops.domain.errors import Conflict, InvalidRequest, ProceduresInvalid
from triadops.domain.operations import OperationRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow, OperationRow

BUILT_IN_PLAN_HASHES = {
    # Changed on purpose: the statistics reset left the procedure (issue 19, item 4).
    "database_optimization": "dad4ef70e9ac84fe6e448973d25e197ae47957c2f81d516f4e7bbb72d56d8a24",
    "log_rotation": "47c200f5bf3458621bc76bf6eb927552bd91ffa8fd3025f45d845323a490b4a5",
    "cache_cleanup": "4ed410a3c66e6bd4b085396e88541be28b4c17bd55a584d5959bd8faef3226d9",
}
"""The plan hashes of the built-in procedures when they were Python objects (b694339), but
``database_optimization``'s, which changed when it stopped resetting statistics."""


def deploy(**fields: Any) -> OperationRequest:
    base: dict[str, Any] = {
        "procedure": "deploy",
        "operation_type": "deployment",
        "procedure_params": {"tag": "v7", "pause": 0.5},
    }
    return request(**{**base, **fields})


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(GOOD_TOML)
    runtime = await Runtime.open(settings, migrate=False)
    try:
        yield runtime
    finally:
        await runtime.close()


async def _stored(rt: Runtime) -> tuple[int, int]:
    async with rt.session(read_only=True) as session:
        ops = await session.scalar(select(func.count()).select_from(OperationRow))
        entries = await session.scalar(select(func.count()).select_from(LedgerRow))
    return ops or 0, entries or 0


async def test_the_built_in_procedures_plan_as_they_did_when_they_were_python(
    rt: Runtime,
) -> None:
    for name, expected in BUILT_IN_PLAN_HASHES.items():
        async with rt.session(read_only=True) as session:
            plan, _ = await preview_operation(session, rt.powers, request=request(procedure=name))
        assert plan_hash(plan.binding()) == expected, name


async def test_params_are_rendered_with_their_types_into_the_reviewed_plan(rt: Runtime) -> None:
    op = await submit(rt, deploy())
    assert op.plan is not None
    assert op.plan.steps[0].params["sleep_s"] == 0.5
    assert op.plan.steps[0].params["marker"] == "v7"
    assert op.request.procedure_params == {"tag": "v7", "pause": 0.5}
    other = await submit(rt, deploy(procedure_params={"tag": "v8"}))
    assert other.plan is not None and other.plan.steps[0].params["sleep_s"] == 0.0  # default
    assert other.plan_hash != op.plan_hash  # the hash binds the rendered values
    assert op.planning_result is not None and op.planning_result.risk_level is Risk.MEDIUM


BAD_PARAMS = {
    "wrong type": ({"tag": "v7", "pause": "0.5"}, "procedure_params.pause", "expected a number"),
    "off pattern": ({"tag": "7; rm -rf /"}, "procedure_params.tag", "does not match the pattern"),
    "over the maximum": ({"tag": "v7", "pause": 6}, "procedure_params.pause", "above the maximum"),
    "undeclared": ({"tag": "v7", "host": "x"}, "procedure_params.host", "declares no parameter"),
    "missing": ({"pause": 1}, "procedure_params.tag", "required by deploy"),
}


@pytest.mark.parametrize("kind", list(BAD_PARAMS))
async def test_bad_params_are_refused_naming_the_key_and_nothing_is_stored(
    rt: Runtime, kind: str
) -> None:
    params, field, why = BAD_PARAMS[kind]
    before = await _stored(rt)
    with pytest.raises(InvalidRequest) as refused:
        await submit(rt, deploy(procedure_params=params))
    assert refused.value.field == field
    assert why in refused.value.message
    assert await _stored(rt) == before


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        ({"operation_type": "maintenance"}, "operation_type", "deploy is a deployment procedure"),
        (
            {"constitutional_authority": "judicial"},
            "constitutional_authority",
            "deploy needs executive or legislative authority, not judicial",
        ),
    ],
)
async def test_a_request_must_fit_the_type_and_authority_the_procedure_declares(
    rt: Runtime, fields: dict[str, str], field: str, why: str
) -> None:
    judge = ALICE.model_copy(update={"roles": ALICE.roles | {Role.JUDICIAL}})  # holds it
    before = await _stored(rt)
    with pytest.raises(InvalidRequest) as refused:
        async with rt.session() as session:
            await submit_operation(session, rt.powers, request=deploy(**fields), requester=judge)
            await lifecycle.commit(session)
    assert (refused.value.field, why in refused.value.message) == (field, True)
    assert await _stored(rt) == before


async def test_the_declared_risk_is_a_floor_on_the_review(settings: Settings) -> None:
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(GOOD_TOML.replace('risk = "medium"', 'risk = "high"'))
    rt = await Runtime.open(settings, migrate=False)
    try:
        op = await submit(rt, deploy())
    finally:
        await rt.close()
    assert op.planning_result is not None
    assert op.planning_result.risk_level is Risk.HIGH
    assert "deploy declares high" in op.planning_result.risk_reasons
    assert op.planning_result.required_approvals == ["legislative"]


async def test_a_bad_file_stops_the_runtime_naming_it(settings: Settings) -> None:
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(GOOD_TOML.replace('"noop"', '"nop"'))
    with pytest.raises(ProceduresInvalid) as refused:
        await Runtime.open(settings, migrate=False)
    assert refused.value.problems == [
        f"{folder / 'deploy.toml'}: steps[0].action: unknown action 'nop' (did you mean 'noop'?)"
    ]


async def test_a_changed_procedure_is_a_change_of_governance(
    rt: Runtime, settings: Settings
) -> None:
    assert await rt.check_governance(writer="first") is not None
    path = settings.home / "procedures" / "deploy.toml"
    path.write_text(GOOD_TOML.replace("max = 5", "max = 50"))
    other = await Runtime.open(settings, migrate=False)
    try:
        with pytest.raises(Conflict) as refused:
            await other.check_governance(writer="second")
        assert "procedures.deploy" in refused.value.message
        said = await other.check_governance(writer="server", adopt=True)
        assert said is not None and "procedures.deploy" in said
    finally:
        await other.close()
