"""A flood cannot drown a real page: the rate limit on POST /alerts, and the dispatcher itself.

The doors a flood could come through, each tested here:
- posting faster than a principal's token bucket allows (429, Retry-After, counted);
- alerts already in (another replica, a raised limit): 10,000 emergencies of one token in
  flight, and another principal's emergency is still paged first, the flood told as few
  notifications that say how many.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.fixtures.api import Api
from tests.fixtures.receivers import Received, http_receiver
from triadops.constitution import lifecycle
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.domain.enums import Authority
from triadops.ops.alerts import service
from triadops.ops.alerts.dispatch import SendPolicy, run_cycle
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, WebhookChannel
from triadops.storage.tables import AlertRow, NotificationRow

SECRET = "flood-receiver-secret-of-at-least-32-bytes"
QUICK = SendPolicy(first_wait_s=0.01, max_wait_s=0.01)
JUNK = 10_000
BATCH = 1000
FLOOD_LINE = re.compile(r"^\[FIRING:(\d+)\] \1 alerts from judge \(emergency\)")


def emergency(name: str, **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, **labels}, "severity": "emergency"}


def refused_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "triad_alerts_rate_limited":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    return 0.0


async def stored_alerts(rt: Runtime) -> int:
    async with rt.session() as session:
        return int((await session.execute(select(func.count()).select_from(AlertRow))).scalar())


async def test_the_flooding_principal_gets_429_and_others_still_post(api: Api, rt: Runtime) -> None:
    burst = rt.settings.alerts.rate_limit_burst
    first = await api.post(
        "/alerts", as_="judge", json={"alerts": [emergency(f"Junk{i}") for i in range(burst)]}
    )
    assert first.status_code == 200, first.text
    before = refused_count((await api.client.get("/metrics")).text)

    flood = await api.post(
        "/alerts", as_="judge", json={"alerts": [emergency(f"More{i}") for i in range(100)]}
    )

    assert flood.status_code == 429, flood.text
    assert flood.headers["content-type"] == "application/problem+json"
    assert int(flood.headers["retry-after"]) >= 1
    problem = flood.json()
    assert problem["status"] == 429 and "judge" in problem["detail"]
    assert await stored_alerts(rt) == burst, "a refused post stores nothing"
    real = await api.post("/alerts", as_="carol", json=emergency("DatabaseDown"))
    assert real.status_code == 200, real.text
    assert real.json()["new"] == 1
    after = refused_count((await api.client.get("/metrics")).text)
    assert after == before + 1


async def test_a_post_larger_than_the_burst_is_refused_by_name(api: Api, rt: Runtime) -> None:
    rt.settings.alerts.rate_limit_burst = 10  # read when the app first meets a post
    response = await api.post(
        "/alerts", as_="judge", json={"alerts": [emergency(f"Junk{i}") for i in range(11)]}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "alerts"
    assert await stored_alerts(rt) == 0


def pager_settings(base: AlertSettings, url: str) -> AlertSettings:
    channels = {"pager": WebhookChannel(url=url, secret=SecretStr(SECRET), timeout_s=5)}
    return AlertSettings(
        **(
            base.model_dump(exclude={"channels", "routes", "fallback"})
            | {"channels": channels, "routes": {a: ["pager"] for a in Authority}}
            | {"fallback": ["pager"]}
        )
    )


def is_real(received: Received) -> bool:
    return any(a["alertname"] == "DatabaseDown" for a in received.json()["alerts"])


def junk_told(received: Received) -> int:
    """How many of the flood's alerts one delivery tells (a digest says how many)."""
    found = FLOOD_LINE.match(received.json()["summary"])
    if found is not None:
        return int(found.group(1))
    return sum(a["alertname"].startswith("Junk") for a in received.json()["alerts"])


async def test_a_real_emergency_is_paged_before_a_flood_of_10000(api: Api, rt: Runtime) -> None:
    # The flood is already in: stored the way another replica or a raised limit would have
    # let it in, so the rate limit plays no part and the dispatcher alone must keep order.
    now = utcnow()
    junk = [AlertIn.model_validate(emergency(f"Junk{i}")) for i in range(JUNK)]
    for start in range(0, JUNK, BATCH):
        async with rt.session() as session:
            await service.ingest(
                session,
                junk[start : start + BATCH],
                source="api",
                now=now,
                settings=rt.settings.alerts,
                by="judge",
            )
            await lifecycle.commit(session)
    posted = await api.post("/alerts", as_="carol", json=emergency("DatabaseDown"))
    assert posted.status_code == 200, posted.text

    async with http_receiver(SECRET) as receiver:
        settings = pager_settings(rt.settings.alerts, receiver.url("/pager"))
        due = utcnow() + timedelta(seconds=settings.group_wait_s)
        cycles = 0
        while not any(is_real(r) for r in receiver.accepted):
            assert cycles < 3, "the real emergency was not delivered"
            await run_cycle(rt.sessions, now=due, settings=settings, owner="t", policy=QUICK)
            cycles += 1
        real_at = next(i for i, r in enumerate(receiver.accepted) if is_real(r))
        before = receiver.accepted[:real_at]
        # Paged in the first cycle, at most one concurrent send behind, well before the flood.
        assert cycles == 1
        assert real_at < QUICK.concurrency
        assert sum(junk_told(r) for r in before) < JUNK // 10
        [real] = [r for r in receiver.accepted if is_real(r)]
        assert [a["alertname"] for a in real.json()["alerts"]] == ["DatabaseDown"]

        # The flood drains as a few notifications that each say how many.
        for _ in range(JUNK // 100):
            result = await run_cycle(
                rt.sessions, now=due, settings=settings, owner="t", policy=QUICK
            )
            if result.queued == 0 and result.delivery.claimed == 0:
                break
    flood = [r for r in receiver.accepted if not is_real(r)]
    assert sum(junk_told(r) for r in flood) == JUNK
    assert len(flood) <= JUNK // 400
    told_one_by_one = [r for r in flood if not FLOOD_LINE.match(r.json()["summary"])]
    # Only a flush's tail within the threshold is told as its own groups.
    assert sum(junk_told(r) for r in told_one_by_one) <= settings.flood_threshold
    async with rt.session() as session:
        pending = select(func.count()).where(NotificationRow.status != "sent")
        assert (await session.execute(pending)).scalar() == 0
