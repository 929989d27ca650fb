"""Delivery: claim due notifications with a lease, send them outside any transaction.

A failed try is due again after the backoff (a timestamp, never a sleep). An outcome is
recorded only while its dispatcher still holds the claim; a dispatcher that dies leaves its
rows to expire and be claimed again, so a delivery is late at worst, never lost, and the
lease outlasts the longest send, so a live dispatcher's delivery is sent once.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from triadops.constitution import lifecycle as constitution
from triadops.ops.alerts import events, floods
from triadops.ops.alerts.escalation import retry_at
from triadops.ops.alerts.notifiers import notifiers_for
from triadops.ops.alerts.payloads import DeliveryFailed, NotificationPayload, Notifier
from triadops.settings import AlertSettings
from triadops.storage import notifications as store
from triadops.storage.tables import NotificationRow

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """How one dispatcher sends: quick retries within a call, concurrency, lease margin."""

    tries: int = 2
    """Tries within one call for a transient failure; later ones wait for the backoff."""
    first_wait_s: float = 0.5
    """The pause before the second try within a call; it doubles, up to `max_wait_s`."""
    max_wait_s: float = 2.0
    concurrency: int = 8
    """Deliveries sent at once."""
    lease_margin_s: float = 30.0
    """Added to the longest a claimed batch can take, to size its lease."""


Outcome = Literal["sent", "retrying", "failed", "lost_claim"]


@dataclass(slots=True)
class DeliveryResult:
    """What one delivery pass did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    """Failed this time, due again after the backoff."""
    failed: int = 0
    """Out of attempts: ``failed`` for good (the alert itself stays as it is)."""
    lost_claim: int = 0
    """Outcomes not recorded because another dispatcher had taken the claim over."""

    def count(self, outcome: Outcome) -> None:
        """Add one delivery with this outcome."""
        match outcome:
            case "sent":
                self.sent += 1
            case "retrying":
                self.retrying += 1
            case "failed":
                self.failed += 1
            case "lost_claim":
                self.lost_claim += 1


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
        await session.connection(execution_options={"triad_read_only": True})
        yield session


def _lease_s(senders: Mapping[str, Notifier], limit: int, policy: SendPolicy) -> float:
    """Return a lease longer than a batch of `limit` deliveries can possibly take.

    Each send is cut off at its budget, so a live dispatcher records every outcome before
    its lease runs out and no other dispatcher sends the same delivery meanwhile.
    """
    longest = max((_budget_s(s, policy) for s in senders.values()), default=0.0)
    return longest * math.ceil(limit / policy.concurrency) + policy.lease_margin_s


def _budget_s(sender: Notifier, policy: SendPolicy) -> float:
    """Return the longest one delivery to `sender` may take, quick retries included."""
    return policy.tries * sender.timeout_s + (policy.tries - 1) * policy.max_wait_s


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    owner: str,
    settings: AlertSettings,
    limit: int = 100,
    notifiers: Mapping[str, Notifier] | None = None,
    policy: SendPolicy = SendPolicy(),
) -> DeliveryResult:
    """Claim up to `limit` due deliveries, send them concurrently, record each outcome.

    A failed try is due again after the backoff (a timestamp, never a sleep) until
    ``delivery_attempts`` tries, then ``failed`` with a readable ``last_error``.
    """
    senders = dict(notifiers) if notifiers is not None else notifiers_for(settings.channels)
    async with reading(sessions) as session:
        if not await store.any_due_notifications(session, now=now):
            return DeliveryResult()
    async with sessions() as session:
        claimed = await store.claim_notifications(
            session,
            owner=owner,
            now=now,
            lease_s=_lease_s(senders, limit, policy),
            limit=limit,
            priorities=floods.PRIORITIES,
        )
        await session.commit()
    result = DeliveryResult(claimed=len(claimed))
    gate = asyncio.Semaphore(policy.concurrency)

    async def deliver(row: NotificationRow) -> None:
        async with gate:
            error = await _attempt(senders.get(row.channel), row, policy)
        outcome = await _record_outcome(
            sessions, row, error, owner=owner, now=now, settings=settings
        )
        result.count(outcome)
        if error is not None:
            log.warning(
                "notification_not_delivered",
                channel=row.channel,
                notification=row.id,
                attempts=row.attempts,
                outcome=outcome,
                error=error,
            )

    outcomes = await asyncio.gather(*(deliver(r) for r in claimed), return_exceptions=True)
    for row, outcome in zip(claimed, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            # Its claim runs out and another pass sends it: late, never lost.
            log.error(
                "notification_outcome_unrecorded",
                channel=row.channel,
                notification=row.id,
                error=f"{type(outcome).__name__}: {outcome}",
            )
    return result


async def _record_outcome(
    sessions: async_sessionmaker[AsyncSession],
    row: NotificationRow,
    error: str | None,
    *,
    owner: str,
    now: datetime,
    settings: AlertSettings,
) -> Outcome:
    """Record one delivery's outcome while `owner` still holds its claim; return it."""
    outcome: Outcome
    async with sessions() as session:
        if error is None:
            held = await store.record_sent(session, notification_id=row.id, owner=owner, now=now)
            outcome = "sent"
        else:
            again = retry_at(attempts=row.attempts, now=now, settings=settings)
            held = await store.record_failure(
                session, notification_id=row.id, owner=owner, error=error, retry_at=again
            )
            outcome = "retrying" if again is not None else "failed"
        if held and outcome != "retrying":
            events.record_delivery(session, row, outcome=outcome, at=now)
        await constitution.commit(session)
    return outcome if held else "lost_claim"


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryFailed) and exc.transient


async def _attempt(sender: Notifier | None, row: NotificationRow, policy: SendPolicy) -> str | None:
    """Send one claimed delivery with quick retries; return None, or why it failed."""
    if sender is None:
        return f"channel {row.channel!r} is not configured"
    try:
        payload = NotificationPayload.model_validate(row.payload)
    except ValidationError as exc:
        return f"stored payload is not a notification ({exc.error_count()} errors)"
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.tries),
        wait=wait_exponential(multiplier=policy.first_wait_s, max=policy.max_wait_s),
        retry=retry_if_exception(_transient),
        reraise=True,
    )
    budget_s = _budget_s(sender, policy)
    try:
        async with asyncio.timeout(budget_s):
            async for attempt in retrying:
                with attempt:
                    await sender.send(payload)
    except DeliveryFailed as exc:
        return exc.message
    except TimeoutError:
        return f"channel {row.channel!r} took longer than {budget_s:g} s"
    except Exception as exc:  # a sender's bug fails this delivery alone, not the batch
        log.exception("notifier_error", channel=row.channel, notification=row.id)
        return f"channel {row.channel!r} failed: {type(exc).__name__}"
    return None
