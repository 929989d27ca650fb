"""Claims due operations and sends each on its journey; keeps house; waits for outcomes."""

from __future__ import annotations

import asyncio

from triadops.constitution import lifecycle
from triadops.constitution.commits import GroupCommitter
from triadops.constitution.crown.service import flag_overdue_acknowledgements, is_frozen
from triadops.constitution.journey import Claimed, Journey
from triadops.constitution.legislative.approvals import expire_approvals
from triadops.constitution.powers import Powers
from triadops.domain.enums import OperationStatus as S
from triadops.domain.operations import Operation, utcnow
from triadops.storage import operations as store
from triadops.storage.records import load_operation
from triadops.storage.tables import OperationRow
from triadops.worker.lease_keeper import LeaseKeeper


async def claim(
    powers: Powers,
    *,
    owner: str,
    limit: int,
    only: str | None = None,
    emergency_limit: int = 0,
    likely_due: bool = False,
) -> list[Claimed]:
    """Lease due operations (or only the one named) with their steps and approvals.

    Emergencies under the crown come first: up to `emergency_limit` of them (at least
    `limit`), then anything due up to `limit`, counting the emergencies taken. An idle poll
    is a read: the write lock is taken only when something is due, or when the caller
    says work is `likely_due` (its last claim took all it asked for).
    """
    emergency_limit = max(emergency_limit, limit)
    if emergency_limit <= 0:
        return []
    emergencies = True
    if not likely_due:
        async with powers.reading() as session:
            now = utcnow()
            if not await store.any_due(session, now=now, only=only):
                return []
            emergencies = await store.any_due(session, now=now, only=only, emergencies_only=True)
            if not emergencies and limit <= 0:
                return []
    async with powers.sessions() as session:
        now, lease_s = utcnow(), powers.settings.lease_s
        rows: list[OperationRow] = []
        if emergencies:  # one due since the read is claimed on the next wake-up or poll
            rows = await store.claim_operations(
                session,
                owner=owner,
                now=now,
                lease_s=lease_s,
                limit=emergency_limit,
                only=only,
                emergencies_only=True,
            )
        if len(rows) < limit:
            rows += await store.claim_operations(
                session, owner=owner, now=now, lease_s=lease_s, limit=limit - len(rows), only=only
            )
        if not rows:
            await session.rollback()
            return []
        ids = [r.id for r in rows]
        steps = await store.get_steps_of(session, ids)
        approvals = await store.get_approvals_of(session, ids)
        await session.commit()
    return [Claimed(r, steps[r.id], approvals[r.id]) for r in rows]


async def drive_once(
    powers: Powers, *, owner: str, limit: int | None = None, only: str | None = None
) -> int:
    """Claim a batch of due operations (or only one) and drive each as far as it can go."""
    batch = limit or powers.settings.worker_batch
    claimed = await claim(powers, owner=owner, limit=batch, only=only)
    if not claimed:
        return 0
    lease_s = powers.settings.lease_s
    async with (
        LeaseKeeper(
            powers.sessions,
            owner=owner,
            lease_s=lease_s,
            cancel_check_s=powers.settings.worker_cancel_check_s,
        ) as leases,
        GroupCommitter(powers.sessions, owner=owner, lease_s=lease_s) as gc,
    ):
        runs = [Journey(powers, gc, owner, c, leases).run() for c in claimed]
        await asyncio.gather(*runs)
    return len(claimed)


async def keep_house(powers: Powers) -> None:
    """Reject approvals past their deadline and flag emergencies nobody acknowledged."""
    now = utcnow()
    async with powers.reading() as session:
        if not await store.house_work_due(session, now=now):
            return
    async with powers.sessions() as session:
        changed = await expire_approvals(session, now=now)
        changed += await flag_overdue_acknowledgements(session, now=now)
        if changed:
            await lifecycle.commit(session)


WAITING = frozenset({S.AWAITING_APPROVAL, S.IN_DOUBT})


async def wait_for_operation(
    powers: Powers,
    operation_id: str,
    *,
    drive: bool,
    owner: str,
    timeout_s: float | None = None,
    poll_s: float = 0.2,
) -> Operation:
    """Return the operation once it is final or waits on a human, a window or a freeze.

    With `drive`, this process claims and drives due work itself (no worker needed);
    otherwise it only watches while a worker does.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    while True:
        async with powers.reading() as session:
            row = await store.get_operation(session, operation_id)
            status = S(row.status)
            settled = status.is_final or status in WAITING
            not_yet_due = status is S.SCHEDULED and (
                row.scheduled_time is not None and row.scheduled_time > utcnow()
            )
            held = status in (S.SCHEDULED, S.EXECUTING) and await is_frozen(session)
            if settled or not_yet_due or held:
                return await load_operation(session, operation_id)
        if deadline is not None and loop.time() > deadline:
            async with powers.reading() as session:
                return await load_operation(session, operation_id)
        if not (drive and await drive_once(powers, owner=owner, only=operation_id)):
            await asyncio.sleep(poll_s)
