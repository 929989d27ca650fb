"""The comparison of stored alerts, silences, groups and deliveries with what the folds say.

Each function names, as a discrepancy, every stored row that differs from the state the
alert folds left (``alert_audit``, ``notification_audit``), and everything the ledger
records that the store does not hold. Rows are streamed in id order, a batch at a time.

Not compared: counts, last_seen and times (a repeat is not a ledger event), notified_at,
and what entries from before a field was recorded do not say (an alert fired without an
annotations digest leaves its deadline and annotations unchecked). Stored labels are held
to the fingerprint the ledger recorded, so an edited label set is caught without the
labels being in the ledger. Deliveries older than the first one the ledger records (queued
by a release that did not record them) are not compared.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger.alert_audit import (
    AlertingState,
    AlertState,
    SilenceState,
    annotations_digest,
)
from triadops.constitution.ledger.chain import Pacer
from triadops.constitution.ledger.notification_audit import when
from triadops.domain.alerts import fingerprint
from triadops.domain.chain import canonical_json
from triadops.storage import alerts as store
from triadops.storage import audit as audit_store

BATCH = 500
LIVE_STATES = frozenset({"firing", "acknowledged", "silenced"})
"""States whose alert its group still has to notify (or watch)."""


async def compare_stored(session: AsyncSession, state: AlertingState, pacer: Pacer) -> None:
    """Stream the stored alerts, silences, groups and deliveries past the folded state."""
    live: dict[str, int] = {}
    async for alerts in store.iterate_stored_alerts(session, batch=BATCH):
        compare_alerts(state, alerts, live)
        await pacer.turn()
    async for silences in store.iterate_stored_silences(session, batch=BATCH):
        compare_silences(state, silences)
        await pacer.turn()
    compare_unstored(state)
    compare_groups(state, await audit_store.select_groups(session), live)
    first = min(state.notifications.deliveries, default=None)
    async for deliveries in audit_store.iterate_deliveries(session, batch=BATCH):
        compare_deliveries(state, deliveries, first)
        await pacer.turn()
    compare_unstored_deliveries(state)


def compare_alerts(
    state: AlertingState, rows: list[store.StoredAlert], live: dict[str, int]
) -> None:
    """Compare a batch of stored alerts; note in `live` a group of each unresolved one."""
    for row in rows:
        subject = f"alert {row.id}"
        said = state.alerts.get(row.id)
        if said is None or not said.fired:
            state.say("alert", subject, "stored but never fired in the ledger (inserted)")
            continue
        said.stored = True
        if row.state in LIVE_STATES:
            live.setdefault(row.group_key, row.id)
        for problem in _alert_problems(row, said) + _escalation_problems(row, said):
            state.say("alert", subject, problem)


def compare_silences(state: AlertingState, rows: list[store.StoredSilence]) -> None:
    """Compare a batch of stored silences with the folded state."""
    for row in rows:
        subject = f"silence {row.id}"
        said = state.silences.get(row.id)
        if said is None or not said.created:
            state.say("silence", subject, "stored but never created in the ledger (inserted)")
            continue
        said.stored = True
        for problem in _silence_problems(row, said):
            state.say("silence", subject, problem)


def compare_unstored(state: AlertingState) -> None:
    """Name every alert and silence the ledger made but the store does not hold."""
    for alert_id, alert in state.alerts.items():
        if alert.fired and not alert.stored:
            state.say("alert", f"alert {alert_id}", "in the ledger but not stored (deleted)")
    for silence_id, silence in state.silences.items():
        if silence.created and not silence.stored:
            state.say("silence", f"silence {silence_id}", "in the ledger but not stored (deleted)")


def _alert_problems(row: store.StoredAlert, said: AlertState) -> list[str]:
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


def _escalation_problems(row: store.StoredAlert, said: AlertState) -> list[str]:
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
        stored = when(row.ack_deadline)
        if stored != said.ack_deadline:
            problems.append(
                f"stored ack_deadline {_iso(stored)} but the ledger set {_iso(said.ack_deadline)}"
            )
        if said.annotations is not None and annotations_digest(row.annotations) != said.annotations:
            problems.append("stored annotations differ from those the ledger recorded (edited)")
    return problems


def _silence_problems(row: store.StoredSilence, said: SilenceState) -> list[str]:
    problems = []
    if row.created_by != said.created_by:
        problems.append(f"stored creator {row.created_by} but the ledger's is {said.created_by}")
    if said.matchers is not None and canonical_json(row.matchers) != said.matchers:
        problems.append("stored matchers differ from those the ledger recorded")
    ends = when(row.ends_at)
    if said.ends_known and (said.ends_at is None or ends != said.ends_at):
        problems.append(f"stored end {row.ends_at} but the ledger recorded {said.ends_at}")
    if said.starts_at is not None and when(row.starts_at) != said.starts_at:
        problems.append(
            f"stored starts_at {_iso(when(row.starts_at))} but the ledger created it at "
            f"{said.starts_at.isoformat()}"
        )
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


def compare_groups(
    state: AlertingState, rows: list[audit_store.StoredGroup], live: dict[str, int]
) -> None:
    """Compare stored groups; `live` maps groups to an unresolved alert each must notify."""
    for row in rows:
        subject = f"alert group {row.key}"
        if row.next_flush_at is None:
            state.say("alert_group", subject, "stored next_flush_at is empty: never flushed again")
            continue
        bound = state.notifications.latest_flush(row.key)
        if bound is not None and _utc(row.next_flush_at) > bound:
            state.say(
                "alert_group",
                subject,
                f"stored next_flush_at {_utc(row.next_flush_at).isoformat()} is later "
                f"than the ledger allows ({bound.isoformat()}): its alerts are held back",
            )
    stored = {row.key for row in rows}
    for key, alert_id in sorted(live.items()):
        if key not in stored:
            state.say(
                "alert_group",
                f"alert group {key}",
                f"not stored, but alert {alert_id} of it is unresolved (deleted): "
                "its alerts are never notified",
            )


def compare_deliveries(
    state: AlertingState, rows: list[audit_store.StoredDelivery], first: int | None
) -> None:
    """Compare a batch of stored deliveries from `first`, the first the ledger recorded."""
    if first is None:
        return  # none recorded: queued before deliveries were recorded
    deliveries = state.notifications.deliveries
    for row in rows:
        if row.id < first:
            continue
        subject = f"notification {row.id}"
        said = deliveries.get(row.id)
        if said is None:
            state.say("notification", subject, "stored but never queued in the ledger (inserted)")
            continue
        said.stored = True
        if row.channel != said.channel:
            state.say(
                "notification",
                subject,
                f"stored channel {row.channel} but the ledger queued it for {said.channel}",
            )
        if row.status != said.status and not (row.status == "pending" == said.status):
            state.say(
                "notification",
                subject,
                f"stored status {row.status} but the ledger records it {said.status}",
            )


def compare_unstored_deliveries(state: AlertingState) -> None:
    """Name every delivery the ledger queued that is not stored."""
    for delivery_id, said in sorted(state.notifications.deliveries.items()):
        if not said.stored:
            state.say(
                "notification",
                f"notification {delivery_id}",
                f"queued for {said.channel} in the ledger but not stored (deleted)",
            )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "none"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
