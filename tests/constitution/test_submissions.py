"""Submissions that share a group commit: a duplicate id fails alone, the others commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.pipeline import ALICE, load, request
from triadops.constitution.commits import Submissions, Tick
from triadops.constitution.legislative.service import review_request, store_reviewed
from triadops.domain.enums import OperationStatus
from triadops.domain.errors import Conflict
from triadops.runtime import Runtime


async def test_the_same_id_twice_in_one_group_is_a_conflict_for_the_second(
    runtime: Runtime,
) -> None:
    reviewed = []
    for operation_id in ("op-twin", "op-twin", "op-single"):
        async with runtime.session(read_only=True) as reading:
            reviewed.append(
                await review_request(
                    reading,
                    runtime.powers,
                    request=request(operation_id=operation_id),
                    requester=ALICE,
                )
            )
    submissions = Submissions(runtime.sessions)

    def storing(index: int) -> Callable[[AsyncSession, Tick], Awaitable[None]]:
        async def apply(session: AsyncSession, tick: Tick) -> None:
            store_reviewed(session, runtime.powers, reviewed[index])

        return apply

    try:
        # Queued at the same moment: one group, one transaction.
        results = await asyncio.gather(
            *(submissions.submit(storing(i)) for i in range(3)), return_exceptions=True
        )
    finally:
        await submissions.stop()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Conflict)
    assert results[1].field == "operation_id"
    for operation_id in ("op-twin", "op-single"):
        assert (await load(runtime, operation_id)).status is OperationStatus.SCHEDULED
