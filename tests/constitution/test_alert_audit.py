"""``audit verify`` sees what would stop an emergency from paging, as a database writer does it.

The history is real: an emergency ingested through the service, flushed to its channels,
delivered, reminded, sent to the fallback, its annotations changed by a repeat; a plain
silence; a change-linked silence. Each test then edits one field with plain SQL, as someone
with write access to the database would, and names the finding it must produce.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Executable, delete, insert, select, update

from tests.fixtures.api import drive
from tests.fixtures.pipeline import ALICE, request, submit
from triadops.constitution import lifecycle
from triadops.constitution.ledger import audit
from triadops.domain.alerts import AlertIn, Matcher
from triadops.domain.enums import Authority
from triadops.ops.alerts import service, silences
from triadops.ops.alerts.dispatch import escalate, run_cycle
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, LogChannel
from triadops.storage.tables import AlertGroupRow, AlertRow, NotificationRow, SilenceRow

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
SETTINGS = AlertSettings(
    channels={name: LogChannel() for name in ("leg", "exe", "jud", "crown", "pager")},
    routes={
        Authority.LEGISLATIVE: ["leg"],
        Authority.EXECUTIVE: ["exe"],
        Authority.JUDICIAL: ["jud"],
        Authority.CROWN: ["crown"],
    },
    fallback=["pager"],
    ack_timeout_s=900,
    renotify_limit=1,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def ingest(rt: Runtime, alert: AlertIn, now: datetime) -> None:
    async with rt.session() as session:
        await service.ingest(
            session, [alert], source="api", now=now, settings=SETTINGS, by="monitoring"
        )
        await lifecycle.commit(session)


async def cycle(rt: Runtime, now: datetime, *, deliver: bool = True) -> None:
    if deliver:
        await run_cycle(rt.sessions, now=now, settings=SETTINGS, owner="w1")
        return
    async with rt.session() as session:  # escalation's decision, its deliveries not sent yet
        await escalate(session, now=now, settings=SETTINGS)
        await lifecycle.commit(session)


async def build_history(rt: Runtime) -> dict[str, Any]:
    """The emergency's whole escalation, a silence and a change silence; return their ids."""
    page = AlertIn(
        labels={"alertname": "DatabaseDown", "system": "db"},
        annotations={"summary": "the primary is down", "runbook": "https://runbooks/db"},
        severity="emergency",
    )
    await ingest(rt, page, T0)
    await cycle(rt, at(SETTINGS.group_wait_s))  # told on its path, delivered
    deadline = SETTINGS.group_wait_s + SETTINGS.ack_timeout_s
    await cycle(rt, at(deadline))  # reminder 1, delivered
    again = page.model_copy(update={"annotations": {"summary": "still down"}})
    await ingest(rt, again, at(deadline + 60))  # a repeat with new annotations
    await cycle(rt, at(deadline + SETTINGS.ack_timeout_s), deliver=False)  # fallback, pending
    async with rt.session() as session:
        muted = await silences.add_silence(
            session,
            matchers=[Matcher.parse('alertname="Noise"'), Matcher.parse('severity="warning"')],
            comment="maintenance",
            by=ALICE,
            now=at(100),
            duration_s=3600.0,
        )
        await lifecycle.commit(session)
    change = request([("noop", {})], affected_systems=["cache"])
    await submit(rt, change)
    await drive(rt)
    async with rt.session() as session:
        alert = (await session.scalars(select(AlertRow))).one()
        pending = (
            await session.scalars(
                select(NotificationRow.id).where(NotificationRow.status == "pending")
            )
        ).all()
        sent = (
            await session.scalars(
                select(NotificationRow.id).where(NotificationRow.status == "sent")
            )
        ).all()
        change_silence = await session.scalar(
            select(SilenceRow.id).where(SilenceRow.operation_id == change.operation_id)
        )
    assert (alert.escalation_level, alert.ack_deadline) == (2, at(deadline + 2 * 900))
    assert pending and sent and change_silence is not None
    return {
        "alert": alert.id,
        "group": alert.group_key,
        "pending": pending[0],
        "sent": sent[0],
        "silence": muted.id,
        "change_silence": change_silence,
    }


async def findings(rt: Runtime) -> list[str]:
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session, alerts=SETTINGS)
    assert report.chain_intact, report.problem
    return [str(d) for d in report.discrepancies]


async def tamper(rt: Runtime, *statements: Executable) -> None:
    async with rt.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def test_an_honest_escalation_with_its_deliveries_verifies_clean(runtime: Runtime) -> None:
    await build_history(runtime)

    assert await findings(runtime) == []


async def test_an_edited_ack_deadline_is_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    later = at(10 * 86400)
    await tamper(runtime, update(AlertRow).values(ack_deadline=later))

    [finding] = await findings(runtime)
    assert finding.startswith(f"alert {made['alert']}: stored ack_deadline {later.isoformat()}")
    assert finding.endswith(f"but the ledger set {at(30 + 2700).isoformat()}")


async def test_an_edited_escalation_level_is_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    await tamper(runtime, update(AlertRow).values(escalation_level=0))

    assert await findings(runtime) == [
        f"alert {made['alert']}: stored escalation_level 0 but the ledger's escalation reached 2"
    ]


async def test_an_edited_group_key_is_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    await tamper(runtime, update(AlertRow).values(group_key="nowhere"))

    assert await findings(runtime) == [
        f"alert {made['alert']}: stored group_key nowhere but the ledger fired it in "
        f"{made['group']}",
        f"alert group nowhere: not stored, but alert {made['alert']} of it is unresolved "
        "(deleted): its alerts are never notified",
    ]


async def test_edited_annotations_are_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    await tamper(runtime, update(AlertRow).values(annotations={"summary": "all fine, ignore"}))

    assert await findings(runtime) == [
        f"alert {made['alert']}: stored annotations differ from those the ledger recorded (edited)"
    ]


async def test_a_group_held_back_or_deleted_is_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    group = made["group"]
    await tamper(runtime, update(AlertGroupRow).values(next_flush_at=at(365 * 86400)))

    [held] = await findings(runtime)
    assert held.startswith(f"alert group {group}: stored next_flush_at ")
    assert held.endswith("its alerts are held back")

    await tamper(runtime, update(AlertGroupRow).values(next_flush_at=None))
    assert await findings(runtime) == [
        f"alert group {group}: stored next_flush_at is empty: never flushed again"
    ]

    await tamper(runtime, delete(AlertGroupRow))
    assert await findings(runtime) == [
        f"alert group {group}: not stored, but alert {made['alert']} of it is unresolved "
        "(deleted): its alerts are never notified"
    ]


async def test_edited_delivery_rows_are_named(runtime: Runtime) -> None:
    made = await build_history(runtime)
    pending, sent = made["pending"], made["sent"]
    async with runtime.session() as session:
        copied = (
            (
                await session.execute(
                    select(NotificationRow.__table__).where(NotificationRow.id == sent)
                )
            )
            .mappings()
            .one()
        )
    await tamper(
        runtime,
        # The fallback page marked as sent without being sent; a sent one's channel moved.
        update(NotificationRow).where(NotificationRow.id == pending).values(status="sent"),
        update(NotificationRow).where(NotificationRow.id == sent).values(channel="pager"),
        insert(NotificationRow).values({**copied, "id": 10_000}),
    )

    channel = copied["channel"]
    assert await findings(runtime) == [
        f"notification {sent}: stored channel pager but the ledger queued it for {channel}",
        f"notification {pending}: stored status sent but the ledger records it pending",
        "notification 10000: stored but never queued in the ledger (inserted)",
    ]

    await tamper(runtime, delete(NotificationRow).where(NotificationRow.id.in_([pending, 10_000])))
    found = await findings(runtime)
    assert (
        f"notification {pending}: queued for pager in the ledger but not stored (deleted)" in found
    )


async def test_an_edited_silence_start_and_an_extended_change_silence_are_named(
    runtime: Runtime,
) -> None:
    made = await build_history(runtime)
    await tamper(
        runtime,
        update(SilenceRow).where(SilenceRow.id == made["silence"]).values(starts_at=at(-3600)),
        update(SilenceRow)
        .where(SilenceRow.id == made["change_silence"])
        .values(ends_at=datetime.now(UTC) + timedelta(days=30)),
    )

    found = sorted(await findings(runtime))
    assert found == sorted(
        [
            f"silence {made['silence']}: stored starts_at {at(-3600).isoformat()} but the "
            f"ledger created it at {at(100).isoformat()}",
            next(f for f in found if f.startswith(f"silence {made['change_silence']}: ")),
        ]
    )
    [extended] = [f for f in found if f.startswith(f"silence {made['change_silence']}: ")]
    assert extended.startswith(f"silence {made['change_silence']}: stored ends_at ")
    assert extended.endswith("it mutes past its change")


async def test_a_new_group_held_past_its_group_wait_is_named(runtime: Runtime) -> None:
    await ingest(runtime, AlertIn(labels={"alertname": "DiskFull"}, severity="critical"), T0)
    assert await findings(runtime) == []
    async with runtime.session() as session:
        key = (await session.scalars(select(AlertGroupRow.key))).one()
    await tamper(runtime, update(AlertGroupRow).values(next_flush_at=at(86400)))

    allowed = at(SETTINGS.group_wait_s).isoformat()
    assert await findings(runtime) == [
        f"alert group {key}: stored next_flush_at {at(86400).isoformat()} is later than the "
        f"ledger allows ({allowed}): its alerts are held back"
    ]
