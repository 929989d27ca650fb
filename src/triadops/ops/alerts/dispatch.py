"""The alert coordination cycle: flush due groups, escalate, then deliver what is due.

Nothing is sent inside a transaction. Deciding (flush and escalation) writes pending
deliveries in one short transaction; delivering claims due rows with a lease and commits,
sends outside any transaction, and records each outcome only while it still holds the claim.
A dispatcher that dies leaves its claimed rows to expire and be claimed again, so a delivery
is never lost; the lease outlasts the longest send, so a live dispatcher's delivery is
never claimed by another and is sent once across replicas.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts import events
from triadops.ops.alerts.escalation import (
    ESCALATION_PATH,
    authorities_for,
    build_payload,
    decide_flush,
    escalation_step,
    highest_severity,
    recipients,
    retry_at,
)
from triadops.ops.alerts.notifiers import (
    AlertBrief,
    DeliveryFailed,
    NotificationPayload,
    NotificationReason,
    Notifier,
    notifiers_for,
)
from triadops.settings import AlertSettings
from triadops.storage import notifications as store
from triadops.storage.tables import AlertRow, NotificationRow

log = structlog.stdlib.get_logger(__name__)

MONITOR = events.MONITOR
"""The actor of the ledger entries escalation writes."""


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


@dataclass(slots=True)
class CycleResult:
    """What one coordination cycle did."""

    queued: int = 0
    """Deliveries queued by group flushes."""
    escalated: int = 0
    """Alerts reminded, sent to the fallback, or re-entered into escalation."""
    delivery: DeliveryResult = field(default_factory=DeliveryResult)


def alert_brief(row: AlertRow) -> AlertBrief:
    """Return an alert row as notifications show it."""
    return AlertBrief(
        id=row.id,
        fingerprint=row.fingerprint,
        alertname=row.alertname,
        severity=Severity(row.severity),
        state=AlertState(row.state),
        labels={str(k): str(v) for k, v in row.labels.items()},
        annotations={str(k): str(v) for k, v in (row.annotations or {}).items()},
        starts_at=row.starts_at,
        count=row.count,
        resolved_at=row.resolved_at,
    )


async def _queue(
    session: AsyncSession,
    alerts: Sequence[AlertBrief],
    *,
    channels: Mapping[str, Sequence[Authority]],
    group_key: str,
    group_labels: Mapping[str, str],
    reason: NotificationReason,
    now: datetime,
    settings: AlertSettings,
    level: int = 0,
    into: list[NotificationRow] | None = None,
) -> int:
    """Queue one delivery per channel; each payload names the authorities it speaks for.

    The rows queued are added to `into`, for the ledger entry that records them.
    """
    for channel, served in channels.items():
        payload = build_payload(
            alerts,
            group_key=group_key,
            group_labels=group_labels,
            reason=reason,
            authorities=served or ESCALATION_PATH,
            now=now,
            level=level,
            settings=settings,
        )
        row = await store.queue_notification(
            session,
            channel=channel,
            authority=served[-1].value if served else None,
            group_key=group_key,
            reason=reason.value,
            payload=payload.model_dump(mode="json"),
            now=now,
        )
        if into is not None:
            into.append(row)
    return len(channels)


async def flush_groups(
    session: AsyncSession, *, now: datetime, settings: AlertSettings, limit: int = 500
) -> int:
    """Notify the groups whose wait or interval is over; return the deliveries queued.

    Each due group's alerts are compared with what it last told; new or changed news is
    queued to every channel its highest severity reaches, an unchanged firing group
    repeats after the repeat interval, and the group's next look is scheduled. A notified
    emergency gets its acknowledgement deadline. A group with no unresolved alert and
    nothing left to tell is dropped. The caller commits.
    """
    queued = 0
    for group in await store.due_groups(session, now=now, limit=limit):
        rows = await store.group_alerts(
            session, key=group.key, resolved_since=group.last_notified_at
        )
        decision = decide_flush(
            [alert_brief(r) for r in rows],
            last_digest=group.last_digest,
            last_notified_at=group.last_notified_at,
            now=now,
            settings=settings,
        )
        if decision.reason is None and decision.next_flush_at is None:
            await store.end_group(session, group)
            await events.record_group_flush(session, group=group.key, next_flush_at=None, at=now)
            continue
        group.next_flush_at = decision.next_flush_at
        if decision.reason is None:
            await events.record_group_flush(
                session, group=group.key, next_flush_at=group.next_flush_at, at=now
            )
            continue
        path = authorities_for(highest_severity(decision.told))
        deliveries: list[NotificationRow] = []
        queued += await _queue(
            session,
            decision.told,
            channels=recipients(path, settings.routes),
            group_key=group.key,
            group_labels={str(k): str(v) for k, v in group.labels.items()},
            reason=decision.reason,
            now=now,
            settings=settings,
            into=deliveries,
        )
        group.last_digest, group.last_notified_at = decision.digest, now
        deadline = now + timedelta(seconds=settings.ack_timeout_s)
        deadlines: list[int] = []
        told = {a.id for a in decision.told}
        for row in rows:
            if row.id not in told:
                continue
            row.notified_at = now
            if (
                row.severity == Severity.EMERGENCY.value
                and row.state == AlertState.FIRING.value
                and row.ack_deadline is None
            ):
                row.ack_deadline = deadline
                deadlines.append(row.id)
        await events.record_group_flush(
            session,
            group=group.key,
            next_flush_at=group.next_flush_at,
            at=now,
            reason=decision.reason.value,
            deliveries=deliveries,
            deadlines=deadlines,
            ack_deadline=deadline,
        )
    return queued


async def escalate(
    session: AsyncSession, *, now: datetime, settings: AlertSettings, limit: int = 500
) -> int:
    """Re-fire quiet acknowledgements and remind overdue emergencies; return how many alerts.

    An acknowledged alert left unresolved for ``ack_quiet_s`` fires again (its group is
    flushed at once) with an ``alert_reescalated`` ledger entry. A firing emergency past its
    acknowledgement deadline is reminded on its whole path, then after ``renotify_limit``
    reminders sent to the fallback at every deadline, each step an ``alert_escalated``
    entry. The caller commits with ``lifecycle.commit``.
    """
    done = 0
    quiet_before = now - timedelta(seconds=settings.ack_quiet_s)
    for alert in await store.quiet_acknowledgements(
        session, acknowledged_before=quiet_before, limit=limit
    ):
        events.record_alert(
            session,
            alert_id=alert.id,
            event="alert_reescalated",
            actor=MONITOR,
            state=AlertState.FIRING,
            details={
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "severity": alert.severity,
                "acknowledged_by": alert.acknowledged_by,
                "acknowledged_at": alert.acknowledged_at.isoformat()
                if alert.acknowledged_at
                else None,
                "quiet_s": settings.ack_quiet_s,
                # The replay's: level and deadline start again, its group is due now.
                "level": 0,
                "ack_deadline": None,
                "group": alert.group_key,
                "next_flush_at": now.isoformat(),
            },
            at=now,
        )
        alert.state = AlertState.FIRING.value
        alert.acknowledged_by = alert.acknowledged_at = None
        # A fresh round: the flush tells the whole path again and sets a new deadline.
        alert.escalation_level, alert.ack_deadline = 0, None
        group = await store.get_group(session, alert.group_key)
        if group is not None:
            group.next_flush_at = now
        done += 1
    for alert in await store.overdue_emergencies(session, now=now, limit=limit):
        level = alert.escalation_level + 1
        reason, channels = escalation_step(level, settings)
        group = await store.get_group(session, alert.group_key)
        labels = group.labels if group is not None else {}
        deliveries: list[NotificationRow] = []
        await _queue(
            session,
            [alert_brief(alert)],
            channels=channels,
            group_key=alert.group_key,
            group_labels={str(k): str(v) for k, v in labels.items()},
            reason=reason,
            now=now,
            settings=settings,
            level=level,
            into=deliveries,
        )
        alert.escalation_level, alert.notified_at = level, now
        alert.ack_deadline = now + timedelta(seconds=settings.ack_timeout_s)
        await session.flush()  # the deliveries' ids, for the entry
        events.record_alert(
            session,
            alert_id=alert.id,
            event="alert_escalated",
            actor=MONITOR,
            state=AlertState(alert.state),
            details={
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "level": level,
                "reason": reason.value,
                "channels": list(channels),
                "ack_deadline": alert.ack_deadline.isoformat(),
                "deliveries": events.delivery_ids(deliveries),
            },
            at=now,
        )
        done += 1
    return done


@asynccontextmanager
async def _reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
        await session.connection(execution_options={"triad_read_only": True})
        yield session


async def run_cycle(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    settings: AlertSettings,
    owner: str,
    notifiers: Mapping[str, Notifier] | None = None,
    policy: SendPolicy = SendPolicy(),
    limit: int = 100,
) -> CycleResult:
    """Run one coordination cycle: escalate and flush in one transaction, then deliver.

    An idle cycle only reads (no write lock on SQLite). `owner` names this dispatcher in
    its claims; `notifiers` default to the configured channels' senders.
    """
    result = CycleResult()
    quiet_before = now - timedelta(seconds=settings.ack_quiet_s)
    async with _reading(sessions) as session:
        busy = await store.any_alert_work(session, now=now, quiet_before=quiet_before)
    if busy:
        async with sessions() as session:
            # Escalation first: an acknowledgement gone quiet makes its group due now.
            result.escalated = await escalate(session, now=now, settings=settings)
            result.queued = await flush_groups(session, now=now, settings=settings)
            await lifecycle.commit(session)
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
    async with _reading(sessions) as session:
        if not await store.any_due_notifications(session, now=now):
            return DeliveryResult()
    async with sessions() as session:
        claimed = await store.claim_notifications(
            session, owner=owner, now=now, lease_s=_lease_s(senders, limit, policy), limit=limit
        )
        await session.commit()
    result = DeliveryResult(claimed=len(claimed))
    gate = asyncio.Semaphore(policy.concurrency)

    async def deliver(row: NotificationRow) -> None:
        async with gate:
            error = await _attempt(senders.get(row.channel), row, policy)
        outcome: Outcome
        async with sessions() as session:
            if error is None:
                held = await store.record_sent(
                    session, notification_id=row.id, owner=owner, now=now
                )
                outcome = "sent"
            else:
                again = retry_at(attempts=row.attempts, now=now, settings=settings)
                held = await store.record_failure(
                    session, notification_id=row.id, owner=owner, error=error, retry_at=again
                )
                outcome = "retrying" if again is not None else "failed"
            if held and outcome != "retrying":
                events.record_delivery(session, row, outcome=outcome, at=now)
            await lifecycle.commit(session)
        result.count(outcome if held else "lost_claim")
        if error is not None:
            log.warning(
                "notification_not_delivered",
                channel=row.channel,
                notification=row.id,
                attempts=row.attempts,
                outcome=outcome if held else "lost_claim",
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
