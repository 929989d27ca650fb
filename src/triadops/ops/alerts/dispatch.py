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
from pydantic import JsonValue, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from triadops.constitution import lifecycle as constitution
from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts import events, floods, lifecycle
from triadops.ops.alerts.escalation import (
    ESCALATION_PATH,
    TOLD_STATES,
    Flush,
    alerts_digest,
    authorities_for,
    build_payload,
    decide_flush,
    escalation_step,
    highest_severity,
    last_level,
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
from triadops.ops.alerts.policy import Act
from triadops.settings import AlertSettings
from triadops.storage import notifications as store
from triadops.storage.tables import AlertGroupRow, AlertRow, NotificationRow

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
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
    )


def raised_by(row: AlertRow) -> str:
    """Return the principal that raised an alert (its source, for rows from before that)."""
    return row.raised_by or row.source


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
    flood: str | None = None,
    into: list[NotificationRow] | None = None,
) -> int:
    """Queue one delivery per channel; each payload names the authorities it speaks for.

    With `flood` (a principal), the alerts are that principal's flood: one payload says how
    many, and the deliveries queue behind every other of their severity. The rows queued
    are added to `into`, for the ledger entry that records them.
    """
    for channel, served in channels.items():
        authorities = served or ESCALATION_PATH
        if flood is None:
            payload = build_payload(
                alerts,
                group_key=group_key,
                group_labels=group_labels,
                reason=reason,
                authorities=authorities,
                now=now,
                level=level,
                settings=settings,
            )
        else:
            payload = floods.flood_payload(
                alerts,
                source=flood,
                reason=reason,
                authorities=authorities,
                now=now,
                settings=settings,
            )
        row = await store.queue_notification(
            session,
            channel=channel,
            authority=served[-1].value if served else None,
            group_key=payload.group_key,
            reason=reason.value,
            payload=payload.model_dump(mode="json"),
            now=now,
            priority=floods.priority(payload.severity, flood=flood is not None),
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
    nothing left to tell is dropped. More than ``flood_threshold`` alerts of one principal
    in one flush are told as one notification per channel (`floods`), apart from any other
    principal's alerts of the same groups. Each group's flush is one ledger entry (its next
    flush, its deliveries, the deadlines it set), and so is each flood's notification.
    The caller commits.
    """
    queued = 0
    groups = await store.due_groups(session, now=now, limit=limit)
    found = await store.groups_alerts(session, groups)
    telling: list[tuple[AlertGroupRow, list[AlertRow], Flush]] = []
    for group in groups:
        rows = found[group.key]
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
        telling.append((group, rows, decision))
    # One principal's many alerts in this flush are told once, apart from everyone else's.
    source_of = {row.id: raised_by(row) for _, rows, _ in telling for row in rows}
    loud = floods.flooding(
        (source_of[a.id] for _, _, d in telling for a in d.told),
        threshold=settings.flood_threshold,
    )
    flooded: dict[tuple[str, NotificationReason], list[AlertBrief]] = {}
    deadline = now + timedelta(seconds=settings.ack_timeout_s)
    for group, rows, decision in telling:
        assert decision.reason is not None
        own, flood = floods.split(decision.told, source_of=source_of, loud=loud)
        deliveries: list[NotificationRow] = []
        if own:
            queued += await _queue(
                session,
                own,
                channels=recipients(authorities_for(highest_severity(own)), settings.routes),
                group_key=group.key,
                group_labels={str(k): str(v) for k, v in group.labels.items()},
                reason=decision.reason,
                now=now,
                settings=settings,
                into=deliveries,
            )
        for source, alerts in flood.items():
            flooded.setdefault((source, decision.reason), []).extend(alerts)
        group.last_digest, group.last_notified_at = decision.digest, now
        deadlines = _mark_told(rows, {a.id for a in decision.told}, now=now, deadline=deadline)
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
    for (source, reason), alerts in flooded.items():
        deliveries = []
        queued += await _queue(
            session,
            alerts,
            channels=recipients(authorities_for(highest_severity(alerts)), settings.routes),
            group_key=floods.flood_key(source),
            group_labels={floods.FLOOD_LABEL: source},
            reason=reason,
            now=now,
            settings=settings,
            flood=source,
            into=deliveries,
        )
        # The flood's notification belongs to no stored group: recorded as one that ends.
        await events.record_group_flush(
            session,
            group=floods.flood_key(source),
            next_flush_at=None,
            at=now,
            reason=reason.value,
            deliveries=deliveries,
        )
    return queued


def _mark_told(
    rows: Sequence[AlertRow], told: set[int], *, now: datetime, deadline: datetime
) -> list[int]:
    """Stamp the alerts a notification told; a told firing emergency gets its ack deadline.

    Returns the ids given `deadline`, for the flush's ledger entry.
    """
    given = []
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
            given.append(row.id)
    return given


async def escalate(
    session: AsyncSession, *, now: datetime, settings: AlertSettings, limit: int = 500
) -> int:
    """Re-fire quiet acknowledgements and remind overdue emergencies; return how many alerts.

    An acknowledged alert left unresolved for ``ack_quiet_s`` fires again (its group is
    told at once, `_refire`) with an ``alert_reescalated`` ledger entry. A firing emergency
    past its acknowledgement deadline is reminded on its whole path, then after
    ``renotify_limit`` reminders sent to the fallback at each deadline, at most
    ``max_repages`` times again, then told once that re-pages stop; each step an
    ``alert_escalated`` entry naming its deliveries and the deadline it set. A flood's
    reminders are one notification per principal and level. The caller commits with
    ``lifecycle.commit``.
    """
    done = 0
    quiet_before = now - timedelta(seconds=settings.ack_quiet_s)
    for alert in await store.quiet_acknowledgements(
        session, acknowledged_before=quiet_before, limit=limit
    ):
        await _refire(session, alert, now=now, settings=settings)
        done += 1
    overdue = await store.overdue_emergencies(session, now=now, limit=limit)
    # A flood's reminders are told once per principal and level, behind everyone else's.
    loud = floods.flooding(map(raised_by, overdue), threshold=settings.flood_threshold)
    reminders: dict[tuple[str, int], list[AlertRow]] = {}
    steps: list[tuple[AlertRow, str, tuple[str, ...], list[NotificationRow]]] = []
    for alert in overdue:
        level = alert.escalation_level + 1
        if level > last_level(settings) + 1:
            # Re-pages stopped already (a row from before the deadline was cleared).
            alert.ack_deadline = None
            steps.append((alert, REPAGES_STOPPED, (), []))
            continue
        reason, channels = escalation_step(level, settings)
        stopping = level > last_level(settings)
        deliveries: list[NotificationRow] = []
        if raised_by(alert) in loud:
            reminders.setdefault((raised_by(alert), level), []).append(alert)
        else:
            group = await store.get_group(session, alert.group_key)
            labels = group.labels if group is not None else {}
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
        alert.ack_deadline = None if stopping else now + timedelta(seconds=settings.ack_timeout_s)
        said = REPAGES_STOPPED if stopping else reason.value
        steps.append((alert, said, tuple(channels), deliveries))
    shared: dict[int, list[NotificationRow]] = {}
    for (source, level), alerts in reminders.items():
        reason, channels = escalation_step(level, settings)
        deliveries = []  # shared by the flood's alerts
        await _queue(
            session,
            [alert_brief(a) for a in alerts],
            channels=channels,
            group_key=floods.flood_key(source),
            group_labels={floods.FLOOD_LABEL: source},
            reason=reason,
            now=now,
            settings=settings,
            level=level,
            flood=source,
            into=deliveries,
        )
        for alert in alerts:
            shared[alert.id] = deliveries
    await session.flush()  # the deliveries' ids, for the entries
    for alert, said, names, deliveries in steps:
        lifecycle.transition(
            session,
            alert,
            AlertState(alert.state),
            act=Act.ESCALATE,
            event="alert_escalated",
            by=MONITOR,
            details={
                "fingerprint": alert.fingerprint,
                "alertname": alert.alertname,
                "level": alert.escalation_level,
                "reason": said,
                "channels": list(names),
                "ack_deadline": alert.ack_deadline.isoformat() if alert.ack_deadline else None,
                "deliveries": events.delivery_ids(shared.get(alert.id, deliveries)),
            },
            at=now,
        )
        done += 1
    return done


REPAGES_STOPPED = "repages_stopped"
"""The reason of the last escalation entry: still unacknowledged, the fallback told that
re-pages stop. The alert stays open and visible; nothing more pages for it."""


async def _told_digest(session: AsyncSession, group: AlertGroupRow) -> str:
    """Return the digest a flush of `group` would compare with what it last told."""
    rows = (await store.groups_alerts(session, [group]))[group.key]
    return alerts_digest(b for b in map(alert_brief, rows) if b.state in TOLD_STATES)


async def _refire(
    session: AsyncSession, alert: AlertRow, *, now: datetime, settings: AlertSettings
) -> None:
    """Fire a quiet acknowledgement again, telling its path it was acknowledged, still firing.

    The notice goes out at once to the channels its severity reaches, saying who
    acknowledged it and how long ago (a flush would tell it as a new firing). When nothing
    else in its group changed since the group's last notification, the group's digest is
    brought up to date so no flush tells it again; otherwise the group is flushed now.
    The ``alert_reescalated`` entry records the level, deadline, deliveries and group move.
    """
    acknowledged = alert_brief(alert)
    acknowledged_by, acknowledged_at = alert.acknowledged_by, alert.acknowledged_at
    group = await store.get_group(session, alert.group_key)
    in_step = group is not None and await _told_digest(session, group) == group.last_digest
    labels = group.labels if group is not None else {}
    deliveries: list[NotificationRow] = []
    await _queue(
        session,
        [acknowledged.model_copy(update={"state": AlertState.FIRING})],
        channels=recipients(authorities_for(Severity(alert.severity)), settings.routes),
        group_key=alert.group_key,
        group_labels={str(k): str(v) for k, v in labels.items()},
        reason=NotificationReason.REPEAT,
        now=now,
        settings=settings,
        into=deliveries,
    )
    await session.flush()  # the deliveries' ids, for the entry
    alert.acknowledged_by = alert.acknowledged_at = None
    # A fresh round: its path hears of it now and an emergency gets a new deadline.
    alert.escalation_level, alert.notified_at = 0, now
    alert.ack_deadline = (
        now + timedelta(seconds=settings.ack_timeout_s)
        if alert.severity == Severity.EMERGENCY.value
        else None
    )
    details: dict[str, JsonValue] = {
        "fingerprint": alert.fingerprint,
        "alertname": alert.alertname,
        "severity": alert.severity,
        "acknowledged_by": acknowledged_by,
        "acknowledged_at": acknowledged_at.isoformat() if acknowledged_at else None,
        "quiet_s": settings.ack_quiet_s,
        # The replay's: the level starts again, with this deadline and these deliveries.
        "level": 0,
        "ack_deadline": alert.ack_deadline.isoformat() if alert.ack_deadline else None,
        "group": alert.group_key,
        "deliveries": events.delivery_ids(deliveries),
    }
    if group is not None and not in_step:
        details["next_flush_at"] = now.isoformat()
    lifecycle.transition(
        session,
        alert,
        AlertState.FIRING,
        act=Act.REFIRE,
        event="alert_reescalated",
        by=MONITOR,
        at=now,
        details=details,
    )
    if group is not None:
        if in_step:
            group.last_digest = await _told_digest(session, group)
        else:
            group.next_flush_at = now


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
            await constitution.commit(session)
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
