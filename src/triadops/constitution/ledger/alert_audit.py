"""What the ledger says each alert and silence is now: one fold per event kind.

Every alert entry names the alert (``alert``, or an older escalation's ``alert_id``) and,
when it changes it, its state after the change (``ops.alerts.events``). The folds keep, for
each alert, the state of its last entry, who acknowledged and who resolved it, the silence
muting it, and the fingerprint and severity it fired with; for each silence, who made it,
its matchers and end, and who expired it. ``alert_compare`` then holds every stored alert
and silence to them.

Who raised an alert is the actor of its ``alert_fired`` entry. A change of its annotations
by its source is an ``alert_annotated`` entry that leaves its state as it was.

What stops a page is folded too: each alert's group, escalation level and acknowledgement
deadline (set by escalation's entries and by its group's flush entry), and its annotations
(as the digest its entries record); a silence's start (its entry's time) and a
change-linked silence's latest end (its opening plus ``LAST_S``, or its
``change_silence_ended``). Groups and deliveries: ``notification_audit``.

Like the operation folds, these read each entry through :class:`folds.Reader` (a view of
its decoded details): a detail an older entry lacks, or a forged one of the wrong type,
leaves that aspect unchecked. Whether an entry says a thing at all (an alert's ``silence``)
is read from its details themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from triadops.constitution.change_silences import LAST_S, matchers_for
from triadops.constitution.ledger import notification_audit as notify
from triadops.constitution.ledger.folds import ACTOR, SUBJECT, Entry, Reader
from triadops.constitution.ledger.notification_audit import NotificationState, when
from triadops.domain.chain import canonical_json
from triadops.domain.events import (
    AlertAcknowledged,
    AlertAnnotated,
    AlertEscalated,
    AlertEvent,
    AlertFired,
    AlertReescalated,
    AlertResolved,
    AlertSilenced,
    AlertUnsilenced,
    ChangeSilenceEnded,
    ChangeSilenceOpened,
    GroupFlushed,
    LedgerEvent,
    NotificationFailed,
    NotificationSent,
    SilenceCreated,
    SilenceExpired,
)
from triadops.domain.ledger import Discrepancy, DiscrepancyKind

AT: Final = 1
"""Where an entry keeps its time (see ``StoredLink``)."""


def annotations_digest(annotations: Any) -> str:
    """Return what the ledger records of an alert's annotations (``annotations_sha256``)."""
    return hashlib.sha256(canonical_json(annotations or {}).encode()).hexdigest()[:32]


@dataclass(slots=True)
class AlertState:
    """What the ledger says one alert is now."""

    fired: bool = False
    state: str | None = None
    fingerprint: str | None = None
    severity: str | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    silence_id: str | None = None
    raised_by: str | None = None
    """The actor of its ``alert_fired`` entry: the only poster that may resolve it."""
    stored: bool = False
    group: str | None = None
    level: int = 0
    tracked: bool = False
    """Fired with an annotations digest: deadlines and annotations are recorded."""
    ack_deadline: datetime | None = None
    annotations: str | None = None


@dataclass(slots=True)
class SilenceState:
    """What the ledger says one silence is now."""

    created: bool = False
    created_by: str | None = None
    matchers: str | None = None
    """The matchers as canonical JSON; None when the entry does not say."""
    ends_at: datetime | None = None
    ends_known: bool = False
    """A change-linked silence's end moves with its operation, unrecorded: not compared."""
    operation_id: str | None = None
    expired_by: str | None = None
    expired: bool = False
    stored: bool = False
    starts_at: datetime | None = None
    latest_end: datetime | None = None
    """A change-linked silence's latest possible end: opening plus LAST_S, or its end."""


@dataclass(slots=True)
class AlertingState:
    """Every alert, silence, group and delivery the folds build, and what was found wrong."""

    alerts: dict[int, AlertState] = field(default_factory=dict)
    silences: dict[str, SilenceState] = field(default_factory=dict)
    notifications: NotificationState = field(default_factory=NotificationState)
    found: list[Discrepancy] = field(default_factory=list)

    def say(self, kind: DiscrepancyKind, subject: str, problem: str) -> None:
        """Name one thing the ledger and the rows disagree on."""
        self.found.append(Discrepancy(kind=kind, subject=subject, problem=problem))


def is_alert_event(event: str) -> bool:
    """True for a kind of the alerts' family, known or not: an unknown one changes nothing."""
    return event.startswith(("alert_", "silence_", "change_silence_", "notification_"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _alert(state: AlertingState, event: AlertEvent) -> AlertState | None:
    """Return the alert an entry names, or None when it names none (nothing to hold)."""
    said: dict[str, Any] = event.__dict__
    alert_id = said.get("alert", said.get("alert_id"))
    if not isinstance(alert_id, int) or isinstance(alert_id, bool):
        return None
    alert = state.alerts.get(alert_id)
    if alert is None:
        alert = state.alerts[alert_id] = AlertState()
    return alert


def _apply(state: AlertingState, alert: AlertState, event: AlertEvent, e: Entry) -> None:
    """Apply what every alert entry may say: annotations, its group's news, state, silence."""
    said: dict[str, Any] = event.__dict__
    if "annotations_sha256" in said:
        alert.annotations = _text(said["annotations_sha256"])
    elif isinstance(said.get("annotations"), dict):
        alert.annotations = annotations_digest(said["annotations"])
    if alert.group is not None:
        notifications = state.notifications
        if alert.tracked:
            # An older release's alert says nothing of its group's unrecorded flushes.
            notifications.alert_seen(alert.group, when(e[AT]))
        notifications.queued(said.get("deliveries"))
    if "state" in said:
        alert.state = _text(said["state"])
    if "silence" in said:
        alert.silence_id = _text(said["silence"])


def fold_fired(state: AlertingState, event: AlertFired, e: Entry) -> None:
    """A new alert: its fingerprint, severity, group and raiser; nobody has taken it."""
    alert = _alert(state, event)
    if alert is None:
        return
    said: dict[str, Any] = event.__dict__
    alert.fired = True
    alert.fingerprint = _text(said.get("fingerprint"))
    alert.severity = _text(said.get("severity"))
    alert.acknowledged_by = alert.resolved_by = None
    alert.raised_by = e[ACTOR]
    alert.group = _text(said.get("group"))
    alert.level, alert.ack_deadline = 0, None
    alert.tracked = "annotations_sha256" in said
    _apply(state, alert, event, e)


def fold_acknowledged(state: AlertingState, event: AlertAcknowledged, e: Entry) -> None:
    """Someone (the entry's actor) took the alert."""
    alert = _alert(state, event)
    if alert is not None:
        _apply(state, alert, event, e)
        alert.acknowledged_by = e[ACTOR]


def fold_resolved(state: AlertingState, event: AlertResolved, e: Entry) -> None:
    """Someone (the entry's actor) resolved the alert."""
    alert = _alert(state, event)
    if alert is not None:
        _apply(state, alert, event, e)
        alert.resolved_by = e[ACTOR]


def fold_changed(
    state: AlertingState, event: AlertSilenced | AlertUnsilenced | AlertAnnotated, e: Entry
) -> None:
    """Muted, unmuted or annotated: only what the entry says changes."""
    alert = _alert(state, event)
    if alert is not None:
        _apply(state, alert, event, e)


def fold_escalated(state: AlertingState, event: AlertEscalated, e: Entry) -> None:
    """Up a level, with a new acknowledgement deadline."""
    alert = _alert(state, event)
    if alert is None:
        return
    said: dict[str, Any] = event.__dict__
    if isinstance(said.get("level"), int):
        alert.level = said["level"]
    if "ack_deadline" in said:
        alert.ack_deadline = when(said["ack_deadline"])
    _apply(state, alert, event, e)


def fold_reescalated(state: AlertingState, event: AlertReescalated, e: Entry) -> None:
    """A quiet acknowledgement fires again from level 0, taken by nobody.

    Its details name the acknowledgement that went quiet, for the record.
    """
    alert = _alert(state, event)
    if alert is None:
        return
    said: dict[str, Any] = event.__dict__
    alert.level, alert.ack_deadline = 0, None
    if "ack_deadline" in said:
        alert.ack_deadline = when(said["ack_deadline"])
    _apply(state, alert, event, e)
    if alert.group is not None and "next_flush_at" in said:
        moved = when(said["next_flush_at"])
        state.notifications.group_moved(alert.group, moved, ended=False)
    alert.state, alert.acknowledged_by = "firing", None


def _silence(state: AlertingState, event: LedgerEvent) -> SilenceState | None:
    silence_id = event.__dict__.get("silence")
    if not isinstance(silence_id, str):
        return None
    silence = state.silences.get(silence_id)
    if silence is None:
        silence = state.silences[silence_id] = SilenceState()
    return silence


def fold_silence_created(state: AlertingState, event: SilenceCreated, e: Entry) -> None:
    """A silence by hand: its creator, matchers, start and end, and the operation it is under."""
    silence = _silence(state, event)
    if silence is None:
        return
    said: dict[str, Any] = event.__dict__
    silence.created, silence.created_by = True, e[ACTOR]
    silence.matchers = canonical_json(said.get("matchers"))
    silence.ends_at, silence.ends_known = when(said.get("ends_at")), True
    silence.operation_id = e[SUBJECT]
    silence.starts_at = when(e[AT])


def fold_change_opened(state: AlertingState, event: ChangeSilenceOpened, e: Entry) -> None:
    """A change's silence: matchers derived from its systems, an end bounded by LAST_S."""
    silence = _silence(state, event)
    if silence is None:
        return
    said: dict[str, Any] = event.__dict__
    at = when(e[AT])
    silence.created, silence.created_by = True, e[ACTOR]
    systems = said.get("systems")
    if isinstance(systems, list) and all(isinstance(s, str) for s in systems):
        # Entries that record their matchers spare critical and emergency alerts;
        # older ones opened on the systems alone. Either way derived, not trusted.
        spare = "matchers" in said
        silence.matchers = canonical_json(matchers_for(systems, spare_loud=spare))
    silence.operation_id = e[SUBJECT]
    silence.starts_at = at
    silence.latest_end = at + timedelta(seconds=LAST_S) if at is not None else None


def fold_change_ended(state: AlertingState, event: ChangeSilenceEnded, e: Entry) -> None:
    """A change ended: its silence may mute no later than now."""
    silence = _silence(state, event)
    at = when(e[AT])
    if silence is not None and at is not None:
        silence.latest_end = min(silence.latest_end or at, at)


def fold_silence_expired(state: AlertingState, event: SilenceExpired, e: Entry) -> None:
    """A silence expired, by the entry's actor."""
    silence = _silence(state, event)
    if silence is not None:
        silence.expired, silence.expired_by = True, e[ACTOR]


AlertFold = Callable[[AlertingState, Any, Entry], None]

ALERT_FOLDS: Final[dict[type[LedgerEvent], AlertFold]] = {
    AlertFired: fold_fired,
    AlertAcknowledged: fold_acknowledged,
    AlertResolved: fold_resolved,
    AlertSilenced: fold_changed,
    AlertUnsilenced: fold_changed,
    AlertAnnotated: fold_changed,
    AlertEscalated: fold_escalated,
    AlertReescalated: fold_reescalated,
    SilenceCreated: fold_silence_created,
    ChangeSilenceOpened: fold_change_opened,
    ChangeSilenceEnded: fold_change_ended,
    SilenceExpired: fold_silence_expired,
    GroupFlushed: notify.fold_group_flushed,
    NotificationSent: notify.fold_sent,
    NotificationFailed: notify.fold_failed,
}
"""The folds of alerts', silences', groups' and deliveries' entries, wherever filed."""

ALERT_READERS: Final = {
    kind.model_fields["kind"].default: Reader(kind, fold) for kind, fold in ALERT_FOLDS.items()
}
