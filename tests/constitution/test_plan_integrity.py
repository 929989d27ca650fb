"""The executive runs only a plan that still hashes to the approved plan hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from tests.fixtures.pipeline import load, request, submit
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.runtime import Runtime
from triadops.storage.tables import OperationRow, StepRow
from triadops.worker.claims import drive_once


def drill(rt: Runtime, name: str) -> Path:
    folder = rt.settings.home / "drills"
    folder.mkdir(exist_ok=True)
    return folder / name


async def test_an_edited_step_row_is_refused_before_it_runs(runtime: Runtime) -> None:
    approved = drill(runtime, "approved")
    op = await submit(runtime, request([("noop", {"marker": str(approved)})]))
    assert op.status is OperationStatus.SCHEDULED
    unapproved = drill(runtime, "unapproved")
    async with runtime.session() as session:
        await session.execute(
            update(StepRow)
            .where(StepRow.operation_id == op.operation_id)
            .values(params={"marker": str(unapproved), "sleep_s": 0})
        )
        await session.commit()

    await drive_once(runtime.powers, owner="w")

    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.FAILED
    assert done.status_reason == (
        "refused to run: the stored steps do not hash to the approved plan hash"
    )
    assert done.steps[0].status is StepStatus.PENDING
    assert not approved.exists() and not unapproved.exists()


@pytest.mark.parametrize("column", ["plan", "approved_plan_hash"])
async def test_an_edited_plan_is_refused_before_it_runs(runtime: Runtime, column: str) -> None:
    op = await submit(runtime, request([("noop", {"sleep_s": 0})]))
    assert op.plan is not None
    forged = op.plan.model_dump(mode="json")
    forged["steps"][0]["params"] = {"sleep_s": 5}
    value = forged if column == "plan" else "e" * 64
    async with runtime.session() as session:
        await session.execute(
            update(OperationRow).where(OperationRow.id == op.operation_id).values({column: value})
        )
        await session.commit()

    await drive_once(runtime.powers, owner="w")

    done = await load(runtime, op.operation_id)
    assert done.status is OperationStatus.FAILED
    assert done.status_reason == (
        "refused to run: the stored plan does not hash to the approved plan hash"
    )
    assert done.steps[0].started_at is None
