"""The alerts' and silences' part of ``triad audit verify``: their state replayed from the ledger.

Every alert entry names the alert (``alert``, or escalation's ``alert_id``) and, when it
changes it, its state after the change (``ops.alerts.events``).
The replay keeps, for each alert, the state of its last entry, who acknowledged and who
resolved it, the silence muting it, and the fingerprint and severity it fired with; for
each silence, who made it, its matchers and end, and who expired it. Then every stored
alert and silence is compared, in id order and in batches, and each that differs is named.

Who raised an alert is the actor of its ``alert_fired`` entry. A change of its annotations
by its source is an ``alert_annotated`` entry that leaves its state as it was.

Not compared: counts, last_seen, annotations and times (a repeat is not a ledger event),
escalation's bookkeeping (level, deadlines, notified_at), and the end of a change-linked
silence, which moves with its operation. Stored labels are held to the
fingerprint the ledger recorded, so an edited label set is caught without the labels being
in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.change_silences import matchers_for
from triadops.constitution.ledger import Pacer
from triadops.domain.alerts import fingerprint
from triadops.domain.chain import canonical_json
from triadops.domain.ledger import Discrepancy, DiscrepancyKind
from triadops.storage import alerts as store

SILENCE_CREATED = "silence_created"
CHANGE_SILENCE_OPENED = "change_silence_opened"
SILENCE_EXPIRED = "silence_expired"
ANNOTATED = "alert_annotated"
"""Its source changed its annotations or graph link (``ops.alerts.events``): no state."""
REESCALATED = "alert_reescalated"
"""Escalation's entry for a quiet acknowledgement fired again (``ops.alerts.dispatch``)."""
BATCH = 500


def is_alert_event(event: str) -> bool:
    """True for the entries this replay reads: every ``alert_*`` and ``*silence_*`` event."""
    return event.startswith(("alert_", "silence_", "change_silence_"))


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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class AlertReplay:
    """Fold alert and silence entries into the state they imply; compare stored rows with it."""

    def __init__(self) -> None:
        self.alerts: dict[int, _Alert] = {}
        self.silences: dict[str, _Silence] = {}
        self.found: list[Discrepancy] = []
        self.alerts_checked = 0
        self.silences_checked = 0

    def feed(self, actor: str, event: str, operation_id: str | None, details: Any) -> bool:
        """Apply one entry if it is an alert's or a silence's; return whether it was."""
        if not is_alert_event(event):
            return False
        if not isinstance(details, dict):
            details = {}
        if "silence_" in event:
            self._silence(actor, event, operation_id, details)
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

    def _silence(
        self, actor: str, event: str, operation_id: str | None, details: dict[str, Any]
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
        elif event == CHANGE_SILENCE_OPENED:
            silence.created, silence.created_by = True, actor
            systems = details.get("systems")
            if isinstance(systems, list) and all(isinstance(s, str) for s in systems):
                # Entries that record their matchers spare critical and emergency alerts;
                # older ones opened on the systems alone. Either way derived, not trusted.
                spare = "matchers" in details
                silence.matchers = canonical_json(matchers_for(systems, spare_loud=spare))
            silence.operation_id = operation_id
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
    return problems


def _silence_problems(row: store.StoredSilence, said: _Silence) -> list[str]:
    problems = []
    if row.created_by != said.created_by:
        problems.append(f"stored creator {row.created_by} but the ledger's is {said.created_by}")
    if said.matchers is not None and canonical_json(row.matchers) != said.matchers:
        problems.append("stored matchers differ from those the ledger recorded")
    if said.ends_known and (said.ends_at is None or _when(row.ends_at) != said.ends_at):
        problems.append(f"stored end {row.ends_at} but the ledger recorded {said.ends_at}")
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


def _when(value: Any) -> datetime | None:
    """Return a recorded or stored time as aware UTC, or None when it is not one."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def compare_stored(session: AsyncSession, replay: AlertReplay, pacer: Pacer) -> None:
    """Stream the stored alerts and silences past the replay, a batch at a time."""
    async for alerts in store.iterate_stored_alerts(session, batch=BATCH):
        replay.compare_alerts(alerts)
        await pacer.turn()
    async for silences in store.iterate_stored_silences(session, batch=BATCH):
        replay.compare_silences(silences)
        await pacer.turn()
    replay.compare_unstored()
