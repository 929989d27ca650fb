"""A proposal reaches the legislature as one info alert, resolved once someone decides."""

from __future__ import annotations

from sqlalchemy import select

from tests.fixtures.pipeline import BOB
from tests.ops.standards.conftest import Restarts
from triadops.domain.operations import utcnow
from triadops.domain.standards import Decision
from triadops.ops.standards.scheduled import ALERT, follow_proposals
from triadops.storage.tables import AlertRow


async def _alerts(r: Restarts) -> list[AlertRow]:
    async with r.rt.session(read_only=True) as session:
        return list(
            (await session.scalars(select(AlertRow).where(AlertRow.alertname == ALERT))).all()
        )


async def test_one_alert_per_open_proposal_resolved_by_the_decision(restarts: Restarts) -> None:
    plan = (await restarts.run()).plan_hash
    assert plan is not None
    assert await follow_proposals(restarts.rt.powers, now=utcnow()) == 0
    assert await _alerts(restarts) == [], "a plan not yet proposed asked for a decision"

    await restarts.run()
    for _ in range(3):  # every pass sees it; one alert stands for it
        assert await follow_proposals(restarts.rt.powers, now=utcnow()) == 1
    [alert] = await _alerts(restarts)
    assert (alert.state, alert.severity, alert.labels["plan"]) == ("firing", "info", plan[:12])
    assert alert.count == 3
    assert "procedure:restart passed validation 2 times" in alert.annotations["summary"]
    assert f"triad standards grant {plan[:12]}" in alert.annotations["description"]

    await restarts.decide(plan, Decision.GRANT, BOB)
    assert await follow_proposals(restarts.rt.powers, now=utcnow()) == 0
    [alert] = await _alerts(restarts)
    assert alert.state == "resolved"
