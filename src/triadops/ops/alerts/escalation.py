"""Escalation and notification timing: pure rules, no I/O.

Who hears of an alert follows its severity up the constitution (info → legislative;
warning → + executive; critical → + judicial; emergency → + crown). When a group is told
follows Alertmanager: wait ``group_wait_s`` for a new group to fill, then tell what changed
at most every ``group_interval_s``, and repeat an unchanged, still firing group every
``repeat_interval_s``. An emergency waits ``ack_timeout_s`` for an acknowledgement, is
reminded ``renotify_limit`` times, then goes to the fallback channels, re-paged every
``ack_timeout_s`` at most ``max_repages`` times, then told once that re-pages stop (the
alert stays open).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Authority
from triadops.ops.alerts.notifiers import AlertBrief, NotificationPayload, NotificationReason
from triadops.settings import AlertSettings

ESCALATION_PATH: tuple[Authority, ...] = (
    Authority.LEGISLATIVE,
    Authority.EXECUTIVE,
    Authority.JUDICIAL,
    Authority.CROWN,
)
"""The authorities in the order severities reach them."""
MAX_BACKOFF_S = 600.0
"""The longest pause between a delivery's tries."""
TOLD_STATES = frozenset({AlertState.FIRING, AlertState.ACKNOWLEDGED})
"""States a notification tells of; a silenced alert is kept quiet."""


def authorities_for(severity: Severity) -> tuple[Authority, ...]:
    """Return the authorities an alert of `severity` reaches, lowest first."""
    return ESCALATION_PATH[: severity.rank + 1]


def recipients(
    authorities: Iterable[Authority], routes: Mapping[Authority, Sequence[str]]
) -> dict[str, list[Authority]]:
    """Return each channel the authorities' routes name, with the authorities it serves.

    A channel two authorities share gets one delivery that speaks for both.
    """
    found: dict[str, list[Authority]] = {}
    for authority in authorities:
        for channel in routes.get(authority, []):
            served = found.setdefault(channel, [])
            if authority not in served:
                served.append(authority)
    return found


def alerts_digest(alerts: Iterable[AlertBrief]) -> str:
    """Return a digest of what a notification tells: each alert's id and state."""
    told = sorted(f"{a.id}:{a.state.value}" for a in alerts)
    return hashlib.sha256("\n".join(told).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Flush:
    """What a group's flush decided."""

    reason: NotificationReason | None
    """Why to notify now, or None to stay quiet."""
    told: list[AlertBrief]
    """The alerts the notification lists: those firing or acknowledged, then resolved news."""
    digest: str
    """The digest of the firing and acknowledged alerts (stored once notified)."""
    next_flush_at: datetime | None
    """When to look at the group again; None once it has nothing left to watch (it ends)."""


def decide_flush(
    alerts: Sequence[AlertBrief],
    *,
    last_digest: str | None,
    last_notified_at: datetime | None,
    now: datetime,
    settings: AlertSettings,
) -> Flush:
    """Decide whether a due group is notified now, with what, and when it is next looked at.

    `alerts` are the group's unresolved alerts and those resolved since its last
    notification (resolved news). Something new or changed is told at once (the flush comes
    at the end of the group wait or interval); only resolutions make a ``resolved``
    notification; an unchanged group with an alert still firing (not acknowledged) repeats
    after the repeat interval; a group with no unresolved alert and nothing to tell is done.
    """
    active = [a for a in alerts if a.state in TOLD_STATES]
    news = [a for a in alerts if a.state is AlertState.RESOLVED]
    silenced = any(a.state is AlertState.SILENCED for a in alerts)
    digest = alerts_digest(active)
    interval = timedelta(seconds=settings.group_interval_s)
    reason: NotificationReason | None = None
    if active and digest != last_digest:
        reason = NotificationReason.FIRING
    elif news:
        reason = NotificationReason.FIRING if active else NotificationReason.RESOLVED
    elif (
        any(a.state is AlertState.FIRING for a in active)
        and last_notified_at is not None
        and now - last_notified_at >= timedelta(seconds=settings.repeat_interval_s)
    ):
        reason = NotificationReason.REPEAT
    if not active and not silenced:
        next_flush_at = now + interval if reason is not None else None
    elif reason is not None or last_notified_at is None:
        next_flush_at = now + interval
    else:
        # Between group intervals, wake exactly when the repeat falls due.
        repeat_at = last_notified_at + timedelta(seconds=settings.repeat_interval_s)
        next_flush_at = min(now + interval, repeat_at) if repeat_at > now else now + interval
    return Flush(reason, [*active, *news], digest, next_flush_at)


def highest_severity(alerts: Iterable[AlertBrief]) -> Severity:
    """Return the loudest severity among `alerts` (info when there are none)."""
    return max((a.severity for a in alerts), key=lambda s: s.rank, default=Severity.INFO)


def summary_line(
    alerts: Sequence[AlertBrief],
    *,
    reason: NotificationReason,
    level: int = 0,
    settings: AlertSettings | None = None,
    now: datetime | None = None,
) -> str:
    """Return the one line a human reads first: status, count, names, severity, reason.

    An acknowledgement reads ``[ACKNOWLEDGED]`` with who took it, never as a new firing; a
    re-fire of an acknowledgement gone quiet says how long ago it was acknowledged.
    """
    firing = [a for a in alerts if a.state is not AlertState.RESOLVED]
    taken = [a for a in firing if a.state is AlertState.ACKNOWLEDGED]
    status = "FIRING" if firing else "RESOLVED"
    if firing and len(taken) == len(firing):
        status = "ACKNOWLEDGED"
    names = sorted({a.alertname for a in alerts})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    line = f"[{status}:{len(firing) or len(alerts)}] {shown} ({highest_severity(alerts)})"
    limit = settings.renotify_limit if settings is not None else None
    if reason is NotificationReason.REMINDER:
        line += f" — not acknowledged, reminder {level}" + (f"/{limit}" if limit else "")
    elif reason is NotificationReason.FALLBACK:
        line += _fallback(level, settings)
    elif reason is NotificationReason.REPEAT:
        line += _still_firing(firing, now)
    elif taken:
        who = ", ".join(sorted({a.acknowledged_by or "someone" for a in taken}))
        part = "" if len(taken) == len(firing) else f"{len(taken)} of {len(firing)} "
        line += f" — {part}acknowledged by {who}"
    return line


def _fallback(level: int, settings: AlertSettings | None) -> str:
    if settings is None:
        return " — not acknowledged, fallback"
    after = f" after {settings.renotify_limit} reminders"
    first = settings.renotify_limit + 1
    if level > last_level(settings):
        pages = last_level(settings) - settings.renotify_limit
        return f" — still unacknowledged after {pages} fallback pages, stopping re-pages"
    if level > first:
        return (
            f" — not acknowledged{after}, fallback re-page {level - first}/{settings.max_repages}"
        )
    return f" — not acknowledged{after}, fallback"


def _still_firing(firing: Sequence[AlertBrief], now: datetime | None) -> str:
    acknowledged = [a for a in firing if a.acknowledged_at is not None]
    if not acknowledged or now is None:
        return " — still firing"
    latest = max(acknowledged, key=lambda a: a.acknowledged_at or now)
    assert latest.acknowledged_at is not None
    minutes = max(round((now - latest.acknowledged_at).total_seconds() / 60), 0)
    who = f" by {latest.acknowledged_by}" if latest.acknowledged_by else ""
    return f" — acknowledged{who} {minutes} min ago, still firing"


def build_payload(
    alerts: Sequence[AlertBrief],
    *,
    group_key: str,
    group_labels: Mapping[str, str],
    reason: NotificationReason,
    authorities: Sequence[Authority],
    now: datetime,
    level: int = 0,
    settings: AlertSettings | None = None,
) -> NotificationPayload:
    """Return the payload of one delivery, with a fresh delivery id."""
    firing = any(a.state is not AlertState.RESOLVED for a in alerts)
    return NotificationPayload(
        id=uuid.uuid4().hex,
        group_key=group_key,
        group_labels=dict(group_labels),
        status="firing" if firing else "resolved",
        reason=reason,
        authorities=list(authorities),
        severity=highest_severity(alerts),
        summary=summary_line(alerts, reason=reason, level=level, settings=settings, now=now),
        alerts=list(alerts),
        created_at=now,
    )


def last_level(settings: AlertSettings) -> int:
    """Return the last escalation level that pages: the reminders, the fallback, its re-pages."""
    return settings.renotify_limit + 1 + settings.max_repages


def escalation_step(
    level: int, settings: AlertSettings
) -> tuple[NotificationReason, dict[str, list[Authority]]]:
    """Return how an unacknowledged emergency at escalation `level` (1 = first) is told.

    Up to ``renotify_limit`` reminders go to its whole path (channels with the authorities
    they serve); past it, the fallback channels, which serve no authority of their own, are
    paged and re-paged ``max_repages`` times. The level after `last_level` is the last notice
    to the fallback (re-pages stop there); past that, nothing more is sent.
    """
    if level <= settings.renotify_limit:
        path = authorities_for(Severity.EMERGENCY)
        return NotificationReason.REMINDER, recipients(path, settings.routes)
    if level > last_level(settings) + 1:
        return NotificationReason.FALLBACK, {}
    return NotificationReason.FALLBACK, {channel: [] for channel in settings.fallback}


def retry_at(*, attempts: int, now: datetime, settings: AlertSettings) -> datetime | None:
    """Return when a delivery that failed its `attempts`-th try is tried again, or None.

    The pause starts at ``delivery_backoff_s`` and doubles per try, up to ten minutes; after
    ``delivery_attempts`` tries the delivery has failed for good.
    """
    if attempts >= settings.delivery_attempts:
        return None
    pause = min(settings.delivery_backoff_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)
    return now + timedelta(seconds=pause)
