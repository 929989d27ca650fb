"""A change the evaluator failed says so: who failed it and what it said, not ``advisor``."""

from __future__ import annotations

from dataclasses import replace

from tests.constitution.test_advisors import submit_with
from tests.fixtures.fakes import ScriptedVerdictAdvisor
from tests.fixtures.pipeline import load, request
from triadops.constitution.advisors import VerdictAdvice
from triadops.domain.enums import OperationStatus
from triadops.runtime import Runtime
from triadops.worker.claims import drive_once


async def test_validation_failed_names_the_evaluator_and_what_it_said(runtime: Runtime) -> None:
    said = "evaluator: the evaluator found it failed; the cache doubled in size"
    failing = replace(
        runtime.powers,
        verdict_advisor=ScriptedVerdictAdvisor(VerdictAdvice(fail=True, reason=said)),
    )
    op = await submit_with(runtime, failing, request())
    while await drive_once(failing, owner="w"):
        pass

    done = await load(runtime, op.operation_id)

    assert done.status is OperationStatus.ROLLED_BACK
    assert done.status_reason == f"validation failed: {said}"
