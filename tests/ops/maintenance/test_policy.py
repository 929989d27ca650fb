"""Who may pause, resume and hold a routine task, and who may be its scheduler.

Doors of "a task's state changes by a person with a role, or by its own failures": pause
and resume by a viewer, a judge or the crown alone; pause without a reason; a hold by hand;
the scheduler's name taken by a token, by ``--as`` or in a request by someone else.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.fixtures.pipeline import ALICE, CAROL, JUDGE, request
from tests.fixtures.tasks import task, with_tasks
from triadops.constitution import lifecycle
from triadops.constitution.crown.tokens import create_token
from triadops.constitution.legislative.service import submit_operation
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, TriadError
from triadops.domain.identity import Identity
from triadops.domain.maintenance_tasks import TaskState
from triadops.domain.operations import utcnow
from triadops.domain.principals import SCHEDULER, new_principal_problem
from triadops.ops.maintenance import service
from triadops.ops.maintenance.policy import TASKS, TaskChange
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow, MaintenanceTaskRow

VIEWER = Identity(name="vera", roles=frozenset({Role.VIEWER}))


@pytest.fixture
async def rt(settings: Settings) -> Runtime:
    return await Runtime.open(with_tasks(settings, task()), migrate=False)


async def entries(rt: Runtime) -> int:
    async with rt.session(read_only=True) as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerRow)) or 0)


@pytest.mark.parametrize("who", [VIEWER, JUDGE, CAROL])
@pytest.mark.parametrize("verb", [service.pause_task, service.resume_task])
async def test_only_the_executive_or_legislature_pause_or_resume(
    rt: Runtime, who: Identity, verb: object
) -> None:
    try:
        async with rt.session() as session:
            with pytest.raises(Forbidden, match="executive or legislative"):
                await verb(  # type: ignore[operator]
                    session, settings=rt.settings, name="drill", by=who, reason="x", now=utcnow()
                )
        assert await entries(rt) == 0
    finally:
        await rt.close()


async def test_a_pause_says_why_and_a_hold_is_never_by_hand(rt: Runtime) -> None:
    try:
        async with rt.session() as session:
            with pytest.raises(InvalidRequest, match="reason"):
                await service.pause_task(
                    session, settings=rt.settings, name="drill", by=ALICE, reason=" ", now=utcnow()
                )
        with pytest.raises(Forbidden, match="held by its failed runs"):
            TASKS.enforce(TaskState.ACTIVE, TaskState.HELD, TaskChange("drill", ALICE, "x"))
        with pytest.raises(Conflict, match="already paused"):
            TASKS.enforce(TaskState.PAUSED, TaskState.PAUSED, TaskChange("drill", ALICE, "x"))
        assert await entries(rt) == 0
    finally:
        await rt.close()


async def test_a_person_resumes_a_held_task_and_its_failures_start_again(rt: Runtime) -> None:
    try:
        async with rt.session() as session:
            row = await service.task_row_for(
                session, rt.settings.task_table()[0], settings=rt.settings, now=utcnow()
            )
            row.held, row.consecutive_failures = True, 3  # as its failures would leave it
            await session.commit()
        async with rt.session() as session:
            row = await service.resume_task(
                session, settings=rt.settings, name="drill", by=ALICE, reason="fixed", now=utcnow()
            )
            await lifecycle.commit(session)
        async with rt.session(read_only=True) as session:
            stored = await session.get(MaintenanceTaskRow, "drill")
            assert stored is not None
            assert (stored.held, stored.paused, stored.consecutive_failures) == (False, False, 0)
    finally:
        await rt.close()


async def test_no_person_or_token_can_be_the_scheduler(rt: Runtime) -> None:
    try:
        assert new_principal_problem(SCHEDULER) is not None
        async with rt.session() as session:
            with pytest.raises(TriadError):
                await create_token(session, name=SCHEDULER, roles=[Role.EXECUTIVE], by="test")
        # A request naming the scheduler is refused to anyone else who submits it.
        async with rt.session() as session:
            with pytest.raises(Forbidden, match="on behalf of triad:scheduler"):
                await submit_operation(
                    session, rt.powers, request=request(requested_by=SCHEDULER), requester=ALICE
                )
        assert await entries(rt) == 0
    finally:
        await rt.close()
