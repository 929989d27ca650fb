"""An emergency operation nobody acknowledges pages the crown until the crown does."""

from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.api import Api, drive, noop_request
from triadops.constitution.ledger import audit
from triadops.domain.clock import FakeClock
from triadops.ops.monitor import Monitor
from triadops.ops.unacknowledged import ALERTNAME, SOURCE
from triadops.runtime import Runtime
from triadops.storage.tables import AlertRow, LedgerRow

LATE_S = 192.0


async def pages(rt: Runtime) -> list[AlertRow]:
    async with rt.session(read_only=True) as session:
        stmt = select(AlertRow).where(AlertRow.alertname == ALERTNAME).order_by(AlertRow.id)
        return list((await session.scalars(stmt)).all())


async def test_an_overdue_emergency_pages_the_crown_until_it_is_acknowledged(
    api: Api, rt: Runtime, clock: FakeClock
) -> None:
    op = await api.submit(
        noop_request(operation_type="emergency", constitutional_authority="crown"), as_="carol"
    )
    op_id = op["operation_id"]
    await drive(rt)
    monitor = Monitor(rt.powers, owner="w1", clock=clock.now, collectors=[])
    every = rt.settings.alerts.every_s

    await monitor.tick()
    assert await pages(rt) == []  # within its deadline: nobody is paged yet

    clock.advance(rt.settings.acknowledgement_timeout_s + LATE_S)
    assert (await monitor.tick()).paged == 1
    [page] = await pages(rt)
    assert (page.severity, page.state, page.source) == ("emergency", "firing", SOURCE)
    assert page.labels["operation_id"] == op_id
    assert op_id in page.annotations["summary"]

    clock.advance(every)
    assert (await monitor.tick()).paged == 0  # one page, escalating on its own
    assert [(p.id, p.state) for p in await pages(rt)] == [(page.id, "firing")]

    acked = await api.post(f"/operations/{op_id}/acknowledge", as_="edward")
    assert acked.status_code == 200
    assert acked.json()["acknowledgement"] == {
        "by": "edward",
        "at": acked.json()["acknowledgement"]["at"],
        "deadline": acked.json()["acknowledgement_deadline"],
        "late": True,
        "late_s": LATE_S + every,
    }

    clock.advance(every)
    await monitor.tick()
    [resolved] = await pages(rt)
    # Only the crown ends an emergency: the page ends in the name of who acknowledged.
    assert (resolved.state, resolved.resolved_by) == ("resolved", "edward")
    async with rt.session(read_only=True) as session:
        stmt = select(LedgerRow.event).where(LedgerRow.operation_id == f"alert:{page.id}")
        trail = list((await session.scalars(stmt)).all())
    assert trail == ["alert_fired", "alert_resolved"]
    async with rt.session(read_only=True) as session:
        report = await audit.verify(session)
    assert report.chain_intact and report.discrepancies == [], report.discrepancies


async def test_a_page_the_crown_resolves_without_acknowledging_comes_back(
    api: Api, rt: Runtime, clock: FakeClock
) -> None:
    op = await api.submit(
        noop_request(operation_type="emergency", constitutional_authority="crown"), as_="carol"
    )
    await drive(rt)
    monitor = Monitor(rt.powers, owner="w1", clock=clock.now, collectors=[])
    clock.advance(rt.settings.acknowledgement_timeout_s + 1)
    await monitor.tick()
    [page] = await pages(rt)
    assert (await api.post(f"/alerts/{page.id}/resolve", as_="edward")).status_code == 200

    clock.advance(rt.settings.alerts.every_s)
    assert (await monitor.tick()).paged == 1
    first, second = await pages(rt)
    assert (first.state, second.state) == ("resolved", "firing")
    assert second.labels["operation_id"] == op["operation_id"]
