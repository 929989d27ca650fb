"""What the monitoring leader runs for maintenance: count operations into usage, prune it."""

from __future__ import annotations

from datetime import datetime, timedelta

from triadops.constitution import lifecycle
from triadops.constitution.powers import Powers
from triadops.storage import usage

FIRST_LOOK = timedelta(days=1)
"""How far back the first count reaches when no operation bucket is recorded yet."""


async def record_usage(powers: Powers, *, now: datetime) -> int:
    """Recount operations submitted since the newest operations bucket; prune old buckets.

    Only the leader runs it, so the operations' buckets are set, not added: a pass run
    twice leaves the same figures. The API's buckets are added by each API process as it
    writes its access record (``storage.access``). Returns the buckets written.
    """
    keep = timedelta(days=powers.settings.usage.keep_days)
    async with powers.reading() as session:
        latest = await usage.latest_bucket(session, usage.OPERATIONS)
        since = latest if latest is not None else now - FIRST_LOOK
        counts = usage.counts_by_bucket(await usage.submitted_since(session, since))
    async with powers.sessions() as session:
        await usage.set_counts(session, usage.OPERATIONS, counts)
        await usage.prune(session, before=now - keep)
        await lifecycle.commit(session)
    return len(counts)
