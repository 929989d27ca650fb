"""The alerts' and silences' part of ``triad audit verify``: their state replayed from the ledger.

Every alert entry names the alert (``alert``, or escalation's ``alert_id``) and, when it
changes it, its state after the change (``ops.alerts.events``).
The replay keeps, for each alert, the state of its last entry, who acknowledged and who
resolved it, the silence muting it, and the fingerprint and severity it fired with; for
each silence, who made it, its matchers and end, and who expired it. Then every stored
alert and silence is compared, in id order and in batches, and each that differs is named.

Who raised an alert is the actor of its ``alert_fired`` entry. A change of its annotations
by its source is an ``alert_annotated`` entry that leaves its state as it was.

What stops a page is compared too: each alert's group, escalation level and
acknowledgement deadline (set by escalation's entries and by its group's flush entry),
and its annotations (held to the digest its entries record); a silence's start (its
entry's time) and a change-linked silence's end (never later than its opening plus
``LAST_S``, nor than its ``change_silence_ended``). Groups and deliveries:
``notification_audit``.

Not compared: counts, last_seen and times (a repeat is not a ledger event), notified_at,
and what entries from before a field was recorded do not say (an alert fired without an
annotations digest leaves its deadline and annotations unchecked). Stored labels are held
to the fingerprint the ledger recorded, so an edited label set is caught without the
labels being in the ledger.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.change_silences import LAST_S, matchers_for
from triadops.constitution.ledger import notification_audit
from triadops.constitution.ledger.chain import Pacer
from triadops.constitution.ledger.notification_audit import when as _when
from triadops.domain.alerts import fingerprint
from triadops.domain.chain import canonical_json
from triadops.domain.ledger import Discrepancy, DiscrepancyKind
from triadops.storage import alerts as store
from triadops.storage import audit as audit_store

SILENCE_CREATED = "silence_created"
CHANGE_SILENCE_OPENED = "change_silence_opened"
SILENCE_EXPIRED = "silence_expired"
"""Its source changed its annotations or graph link (``ops.alerts.events``): no state."""
CHANGE_SILENCE_ENDED = "change_silence_ended"
REESCALATED = "alert_reescalated"
"""Escalation's entry for a quiet acknowledgement fired again (``ops.alerts.dispatch``)."""
ESCALATED = "alert_escalated"
BATCH = 500
LIVE_STATES = frozenset({"firing", "acknowledged", "silenced"})
"""States whose alert its group still has to notify (or watch)."""


def is_alert_event(event: str) -> bool:
    """True for the entries this replay reads: alerts', silences', groups' and deliveries'."""
    return event.startswith(("alert_", "silence_", "change_silence_", "notification_"))


def annotations_digest(annotations: Any) -> str:
    """Return what the ledger records of an alert's annotations (``annotations_sha256``)."""
    return hashlib.sha256(canonical_json(annotations or {}).encode()).hexdigest()[:32]


@dataclass(slots=True)
class _Alert:
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
class _Silence:
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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class AlertReplay:
    """Fold alert and silence entries into the state they imply; compare stored rows with it."""

    def __init__(self, *, group_wait_s: float | None = None) -> None:
        self.alerts: dict[int, _Alert] = {}
        self.silences: dict[str, _Silence] = {}
        self.found: list[Discrepancy] = []
        self.alerts_checked = 0
        self.silences_checked = 0
        self.notifications = notification_audit.NotificationReplay(group_wait_s)
        self.live_groups: dict[str, int] = {}
        """Groups of stored unresolved alerts: one such alert each, to name."""

    def feed(
        self, actor: str, event: str, operation_id: str | None, details: Any, at: Any = None
    ) -> bool:
        """Apply one entry if it is an alert's or a silence's; return whether it was."""
        if not is_alert_event(event):
            return False
        if not isinstance(details, dict):
            details = {}
        if "silence_" in event:
            self._silence(actor, event, operation_id, details, _when(at))
            return True
        if event == notification_audit.GROUP_FLUSHED:
            self._group_flushed(details)
            return True
        if event in notification_audit.OUTCOMES:
            self.notifications.outcome(event, details)
            return True
        alert_id = details.get("alert", details.get("alert_id"))
        if not isinstance(alert_id, int) or isinstance(alert_id, bool):
            return True  # names no alert: nothing to hold a row to
        alert = self.alerts.setdefault(alert_id, _Alert())
        if event == "alert_fired":
            alert.fired = True
            alert.fingerprint = _text(details.get("fingerprint"))
            alert.severity = _text(details.get("severity"))
            alert.acknowledged_by = alert.resolved_by = None
            alert.raised_by = actor
            alert.group = _text(details.get("group"))
            alert.level, alert.ack_deadline = 0, None
            alert.tracked = "annotations_sha256" in details
        self._escalation(alert, event, details, _when(at))
        if "state" in details:
            alert.state = _text(details["state"])
        if "silence" in details:
            alert.silence_id = _text(details["silence"])
        if event == "alert_acknowledged":
            alert.acknowledged_by = actor
        elif event == "alert_resolved":
            alert.resolved_by = actor
        elif event == REESCALATED:
            # Escalation re-fires a quiet acknowledgement: firing again, taken by nobody
            # (its details name the acknowledgement that went quiet, for the record).
            alert.state, alert.acknowledged_by = "firing", None
        return True

    def _escalation(
        self, alert: _Alert, event: str, details: dict[str, Any], at: datetime | None
    ) -> None:
        """Apply what an alert entry says of its annotations, level, deadline and group."""
        if "annotations_sha256" in details:
            alert.annotations = _text(details["annotations_sha256"])
        elif isinstance(details.get("annotations"), dict):
            alert.annotations = annotations_digest(details["annotations"])
        if event == ESCALATED and isinstance(details.get("level"), int):
            alert.level = details["level"]
        elif event == REESCALATED:
            alert.level, alert.ack_deadline = 0, None
        if event in (ESCALATED, REESCALATED) and "ack_deadline" in details:
            alert.ack_deadline = _when(details["ack_deadline"])
        if alert.group is None:
            return
        if alert.tracked:
            # An older release's alert says nothing of its group's unrecorded flushes.
            self.notifications.alert_seen(alert.group, at)
        if event == REESCALATED and "next_flush_at" in details:
            moved = _when(details["next_flush_at"])
            self.notifications.group_moved(alert.group, moved, ended=False)
        self.notifications.queued(details.get("deliveries"))

    def _group_flushed(self, details: dict[str, Any]) -> None:
        group = details.get("group")
        if not isinstance(group, str):
            return
        moved = _when(details.get("next_flush_at"))
        self.notifications.group_moved(group, moved, ended=moved is None)
        self.notifications.queued(details.get("deliveries"))
        deadline = _when(details.get("ack_deadline"))
        for alert_id in details.get("deadlines") or []:
            alert = self.alerts.get(alert_id) if isinstance(alert_id, int) else None
            if alert is not None:
                alert.ack_deadline = deadline

    def _silence(
        self,
        actor: str,
        event: str,
        operation_id: str | None,
        details: dict[str, Any],
        at: datetime | None,
    ) -> None:
        silence_id = details.get("silence")
        if not isinstance(silence_id, str):
            return
        silence = self.silences.setdefault(silence_id, _Silence())
        if event == SILENCE_CREATED:
            silence.created, silence.created_by = True, actor
            silence.matchers = canonical_json(details.get("matchers"))
            silence.ends_at, silence.ends_known = _when(details.get("ends_at")), True
            silence.operation_id = operation_id
            silence.starts_at = at
        elif event == CHANGE_SILENCE_OPENED:
            silence.created, silence.created_by = True, actor
            systems = details.get("systems")
            if isinstance(systems, list) and all(isinstance(s, str) for s in systems):
                # Entries that record their matchers spare critical and emergency alerts;
                # older ones opened on the systems alone. Either way derived, not trusted.
                spare = "matchers" in details
                silence.matchers = canonical_json(matchers_for(systems, spare_loud=spare))
            silence.operation_id = operation_id
            silence.starts_at = at
            silence.latest_end = at + timedelta(seconds=LAST_S) if at is not None else None
        elif event == CHANGE_SILENCE_ENDED and at is not None:
            silence.latest_end = min(silence.latest_end or at, at)
        elif event == SILENCE_EXPIRED:
            silence.expired, silence.expired_by = True, actor

    def _say(self, kind: DiscrepancyKind, subject: str, problem: str) -> None:
        self.found.append(Discrepancy(kind=kind, subject=subject, problem=problem))

    def compare_alerts(self, rows: list[store.StoredAlert]) -> None:
        """Compare a batch of stored alerts with the replay."""
        for row in rows:
            self.alerts_checked += 1
            subject = f"alert {row.id}"
            said = self.alerts.get(row.id)
            if said is None or not said.fired:
                self._say("alert", subject, "stored but never fired in the ledger (inserted)")
                continue
            said.stored = True
            if row.state in LIVE_STATES:
                self.live_groups.setdefault(row.group_key, row.id)
            for problem in _alert_problems(row, said):
                self._say("alert", subject, problem)

    def compare_silences(self, rows: list[store.StoredSilence]) -> None:
        """Compare a batch of stored silences with the replay."""
        for row in rows:
            self.silences_checked += 1
            subject = f"silence {row.id}"
            said = self.silences.get(row.id)
            if said is None or not said.created:
                self._say("silence", subject, "stored but never created in the ledger (inserted)")
                continue
            said.stored = True
            for problem in _silence_problems(row, said):
                self._say("silence", subject, problem)

    def compare_unstored(self) -> None:
        """Name every alert and silence the ledger made but the store does not hold."""
        for alert_id, alert in self.alerts.items():
            if alert.fired and not alert.stored:
                self._say("alert", f"alert {alert_id}", "in the ledger but not stored (deleted)")
        for silence_id, silence in self.silences.items():
            if silence.created and not silence.stored:
                subject = f"silence {silence_id}"
                self._say("silence", subject, "in the ledger but not stored (deleted)")


def _alert_problems(row: store.StoredAlert, said: _Alert) -> list[str]:
    problems = []
    if row.state != said.state:
        problems.append(f"stored state {row.state} but the ledger's last entry says {said.state}")
    if row.fingerprint != said.fingerprint:
        problems.append(
            f"stored fingerprint {row.fingerprint} but the ledger fired {said.fingerprint}"
        )
    labels = row.labels
    if not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        problems.append("stored labels are not a label set (edited)")
    elif fingerprint(labels) != row.fingerprint:
        problems.append("stored labels do not hash to its fingerprint (edited)")
    if said.severity is not None and row.severity != said.severity:
        problems.append(f"stored severity {row.severity} but the ledger fired {said.severity}")
    for what, stored, recorded in (
        ("acknowledgement", row.acknowledged_by, said.acknowledged_by),
        ("resolution", row.resolved_by, said.resolved_by),
    ):
        if stored != recorded:
            problems.append(
                f"stored {what} by {stored or 'nobody'} but the ledger records one by "
                f"{recorded or 'nobody'}"
            )
    if row.raised_by is not None and row.raised_by != said.raised_by:
        problems.append(f"stored as raised by {row.raised_by} but the ledger says {said.raised_by}")
    if row.silence_id != said.silence_id:
        problems.append(
            f"stored as muted by silence {row.silence_id or 'none'} but the ledger says "
            f"{said.silence_id or 'none'}"
        )
    return problems + _escalation_problems(row, said)


def _escalation_problems(row: store.StoredAlert, said: _Alert) -> list[str]:
    """Name what would keep an alert from being told or escalated: group, level, deadline."""
    problems = []
    if said.group is not None and row.group_key != said.group:
        problems.append(f"stored group_key {row.group_key} but the ledger fired it in {said.group}")
    if row.escalation_level != said.level:
        problems.append(
            f"stored escalation_level {row.escalation_level} but the ledger's escalation "
            f"reached {said.level}"
        )
    if said.tracked:
        stored = _when(row.ack_deadline)
        if stored != said.ack_deadline:
            problems.append(
                f"stored ack_deadline {_iso(stored)} but the ledger set {_iso(said.ack_deadline)}"
            )
        if said.annotations is not None and annotations_digest(row.annotations) != said.annotations:
            problems.append("stored annotations differ from those the ledger recorded (edited)")
    return problems


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "none"


def _silence_problems(row: store.StoredSilence, said: _Silence) -> list[str]:
    problems = []
    if row.created_by != said.created_by:
        problems.append(f"stored creator {row.created_by} but the ledger's is {said.created_by}")
    if said.matchers is not None and canonical_json(row.matchers) != said.matchers:
        problems.append("stored matchers differ from those the ledger recorded")
    if said.ends_known and (said.ends_at is None or _when(row.ends_at) != said.ends_at):
        problems.append(f"stored end {row.ends_at} but the ledger recorded {said.ends_at}")
    if said.starts_at is not None and _when(row.starts_at) != said.starts_at:
        problems.append(
            f"stored starts_at {_iso(_when(row.starts_at))} but the ledger created it at "
            f"{said.starts_at.isoformat()}"
        )
    ends = _when(row.ends_at)
    if said.latest_end is not None and (ends is None or ends > said.latest_end):
        problems.append(
            f"stored ends_at {_iso(ends)} is later than the ledger allows "
            f"({said.latest_end.isoformat()}): it mutes past its change"
        )
    if row.operation_id != said.operation_id:
        problems.append(
            f"stored operation {row.operation_id or 'none'} but the ledger filed it under "
            f"{said.operation_id or 'none'}"
        )
    if bool(row.expired) != said.expired or row.expired_by != said.expired_by:
        problems.append(
            f"stored expired by {row.expired_by or 'nobody'} but the ledger records "
            f"{said.expired_by or 'nobody'}"
        )
    return problems


async def compare_stored(session: AsyncSession, replay: AlertReplay, pacer: Pacer) -> None:
    """Stream the stored alerts and silences past the replay, a batch at a time."""
    async for alerts in store.iterate_stored_alerts(session, batch=BATCH):
        replay.compare_alerts(alerts)
        await pacer.turn()
    async for silences in store.iterate_stored_silences(session, batch=BATCH):
        replay.compare_silences(silences)
        await pacer.turn()
    replay.compare_unstored()
    notifications = replay.notifications
    notifications.compare_groups(await audit_store.select_groups(session), replay.live_groups)
    async for deliveries in audit_store.iterate_deliveries(session, batch=BATCH):
        notifications.compare_deliveries(deliveries)
        await pacer.turn()
    notifications.compare_unstored()
    replay.found.extend(notifications.found)
