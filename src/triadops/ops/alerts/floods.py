"""Flood control for notifications: delivery priorities, and one principal's flood told as one.

A delivery's priority orders the claim: severity first (emergency before critical before
warning before info), then age; within a severity, a flood's deliveries come after every
other, so a principal raising thousands of alerts never stands in front of another's page.
Many alerts of one principal told in one flush become one notification per channel that
says how many; an alert of any other principal is never part of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from triadops.domain.alerts import AlertState, Severity, group_key
from triadops.domain.enums import Authority
from triadops.ops.alerts.escalation import build_payload, highest_severity
from triadops.ops.alerts.notifiers import (
    MAX_LISTED,
    AlertBrief,
    NotificationPayload,
    NotificationReason,
)
from triadops.settings import AlertSettings

FLOOD_LABEL = "raised_by"
"""The one group label of a flood's notification: the principal that raised the alerts."""


def priority(severity: Severity, *, flood: bool = False) -> int:
    """Return a delivery's claim priority, lowest first: emergency 0 … info 6, a flood's +1."""
    return (Severity.EMERGENCY.rank - severity.rank) * 2 + (1 if flood else 0)


PRIORITIES = tuple(range(priority(Severity.EMERGENCY), priority(Severity.INFO, flood=True) + 1))
"""Every priority a delivery can have, in the order the claim takes them."""


def flooding(sources: Iterable[str], *, threshold: int) -> frozenset[str]:
    """Return the principals named more than `threshold` times in `sources` (one per alert)."""
    return frozenset(s for s, n in Counter(sources).items() if n > threshold)


def split(
    alerts: Sequence[AlertBrief], *, source_of: Mapping[int, str], loud: frozenset[str]
) -> tuple[list[AlertBrief], dict[str, list[AlertBrief]]]:
    """Part a group's told alerts: those its own notification tells, and each flood's."""
    own: list[AlertBrief] = []
    flood: dict[str, list[AlertBrief]] = {}
    for alert in alerts:
        source = source_of[alert.id]
        if source in loud:
            flood.setdefault(source, []).append(alert)
        else:
            own.append(alert)
    return own, flood


def flood_key(source: str) -> str:
    """Return the group key a flood's notification names: the principal's own."""
    return group_key({FLOOD_LABEL: source}, [FLOOD_LABEL])


def flood_summary(alerts: Sequence[AlertBrief], *, source: str, reason: NotificationReason) -> str:
    """Return the line a human reads first: how many alerts, from whom, how severe."""
    firing = [a for a in alerts if a.state is not AlertState.RESOLVED]
    status = "FIRING" if firing else "RESOLVED"
    count = len(firing) or len(alerts)
    line = f"[{status}:{count}] {count} alerts from {source} ({highest_severity(alerts)})"
    if len(alerts) > MAX_LISTED:
        line += f", the first {MAX_LISTED} listed"
    if reason not in (NotificationReason.FIRING, NotificationReason.RESOLVED):
        line += f" — {reason.value}"
    return line


def _listing(alert: AlertBrief) -> tuple[bool, int, int]:
    return alert.state is AlertState.RESOLVED, -alert.severity.rank, alert.id


def flood_payload(
    alerts: Sequence[AlertBrief],
    *,
    source: str,
    reason: NotificationReason,
    authorities: Sequence[Authority],
    now: datetime,
    settings: AlertSettings,
) -> NotificationPayload:
    """Return one delivery that tells `source`'s many alerts: how many, the first few listed."""
    listed = sorted(alerts, key=_listing)[:MAX_LISTED]
    payload = build_payload(
        listed,
        group_key=flood_key(source),
        group_labels={FLOOD_LABEL: source},
        reason=reason,
        authorities=authorities,
        now=now,
        settings=settings,
    )
    return payload.model_copy(
        update={
            "severity": highest_severity(alerts),
            "summary": flood_summary(alerts, source=source, reason=reason),
        }
    )
