"""The alert coordination cycle: flush due groups, escalate, then deliver what is due.

Nothing is sent inside a transaction. Deciding (flush and escalation) writes pending
deliveries in one short transaction; delivering claims due rows with a lease and commits,
sends outside any transaction, and records each outcome only while it still holds the claim.
A dispatcher that dies leaves its claimed rows to expire and be claimed again, so a delivery
is never lost; the lease outlasts the longest send, so a live dispatcher's delivery is
never claimed by another and is sent once across replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops.constitution import lifecycle as constitution
from triadops.ops.alerts.delivery import DeliveryResult as DeliveryResult
from triadops.ops.alerts.delivery import Outcome as Outcome
from triadops.ops.alerts.delivery import SendPolicy as SendPolicy
from triadops.ops.alerts.delivery import deliver_due as deliver_due
from triadops.ops.alerts.delivery import reading
from triadops.ops.alerts.flushing import alert_brief as alert_brief
from triadops.ops.alerts.flushing import flush_groups as flush_groups
from triadops.ops.alerts.flushing import raised_by as raised_by
from triadops.ops.alerts.notifiers import Notifier
from triadops.ops.alerts.reminders import MONITOR as MONITOR
from triadops.ops.alerts.reminders import REPAGES_STOPPED as REPAGES_STOPPED
from triadops.ops.alerts.reminders import escalate as escalate
from triadops.settings import AlertSettings
from triadops.storage import notifications as store

DEFAULT_SEND_POLICY = SendPolicy()
"""The default send policy of a cycle."""


@dataclass(slots=True)
class CycleResult:
    """What one coordination cycle did."""

    queued: int = 0
    """Deliveries queued by group flushes."""
    escalated: int = 0
    """Alerts reminded, sent to the fallback, or re-entered into escalation."""
    delivery: DeliveryResult = field(default_factory=DeliveryResult)


async def run_cycle(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    settings: AlertSettings,
    owner: str,
    notifiers: Mapping[str, Notifier] | None = None,
    policy: SendPolicy = DEFAULT_SEND_POLICY,
    limit: int = 100,
) -> CycleResult:
    """Run one coordination cycle: escalate and flush in one transaction, then deliver.

    An idle cycle only reads (no write lock on SQLite). `owner` names this dispatcher in
    its claims; `notifiers` default to the configured channels' senders.
    """
    result = CycleResult()
    quiet_before = now - timedelta(seconds=settings.ack_quiet_s)
    async with reading(sessions) as session:
        busy = await store.any_alert_work(session, now=now, quiet_before=quiet_before)
    if busy:
        async with sessions() as session:
            # Escalation first: an acknowledgement gone quiet makes its group due now.
            result.escalated = await escalate(session, now=now, settings=settings)
            result.queued = await flush_groups(session, now=now, settings=settings)
            await constitution.commit(session)
    result.delivery = await deliver_due(
        sessions,
        now=now,
        owner=owner,
        settings=settings,
        limit=limit,
        notifiers=notifiers,
        policy=policy,
    )
    return result
