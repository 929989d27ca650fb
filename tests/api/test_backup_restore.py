"""``POST /backups/{id}/restore``: a governed restore; only the legislature and the crown free it.

Over HTTP, each principal is its token: no field of the body, and no approval under an
authority the token's principal does not hold, stands in for the crown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.api import Api, drive
from tests.fixtures.targets import ORDERS, drop_shop, execute, make_shop, orders
from triadops.runtime import Runtime
from triadops.settings import Settings


@pytest.fixture
async def shop_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    url = await make_shop("sqlite" if database_url.startswith("sqlite") else "pg", tmp_path)
    yield url
    await drop_shop(url)


@pytest.fixture
def settings(settings: Settings, shop_url: str) -> Settings:
    return settings.model_copy(update={"database_targets": {"shop": shop_url}})


async def shop_backup(api: Api, rt: Runtime) -> str:
    made = await api.post("/backups/database", as_="alice", json={"target": "shop"})
    assert made.status_code == 202, made.text
    await drive(rt)
    (listed,) = (await api.get("/backups")).json()
    return str(listed["id"])


async def test_a_restore_over_http_waits_for_the_legislature_and_the_crown(
    api: Api, rt: Runtime, shop_url: str
) -> None:
    backup_id = await shop_backup(api, rt)
    await execute(shop_url, "DELETE FROM orders")
    asked = await api.post(f"/backups/{backup_id}/restore", as_="eve", json={"target": "shop"})
    assert asked.status_code == 202, asked.text
    op_id = asked.json()["operation_id"]
    assert asked.json()["status"] == "awaiting_approval"
    assert "needs approval by legislative, crown" in asked.json()["status_reason"]

    # eve asked and holds no crown; bob is a legislator, not the crown; neither frees it.
    assert (await api.approve(op_id, as_="eve", authority="crown")).status_code == 403
    assert (await api.approve(op_id, as_="bob", authority="crown")).status_code == 403
    assert (await api.approve(op_id, as_="bob")).status_code == 200
    assert (await api.approve(op_id, as_="dave")).status_code == 200  # two legislators...
    await drive(rt)
    assert await api.status(op_id) == "awaiting_approval"  # ...do not make a crown
    assert await orders(shop_url) == 0

    assert (await api.approve(op_id, as_="carol", authority="crown")).status_code == 200
    await drive(rt)
    done = (await api.get(f"/operations/{op_id}")).json()
    assert done["status"] == "completed", done["status_reason"]
    assert [s["action"] for s in done["steps"]] == ["backup.database", "backup.restore"]
    assert done["steps"][0]["output"]["row_counts"] == {"orders": 0}  # the safety backup
    assert await orders(shop_url) == ORDERS


async def test_what_a_restore_request_may_not_ask(api: Api, rt: Runtime, shop_url: str) -> None:
    backup_id = await shop_backup(api, rt)
    path = f"/backups/{backup_id}/restore"
    assert (await api.post(path, as_="viewer", json={"target": "shop"})).status_code == 403
    assert (await api.client.post(path, json={"target": "shop"})).status_code == 401
    own = await api.post(path, as_="alice", json={"target": "triad"})
    assert own.status_code == 422 and "triad's own database cannot be restored" in own.text
    forged = await api.post(path, as_="alice", json={"target": "shop", "approved_by": "carol"})
    assert forged.status_code == 422 and "approved_by" in forged.text
    assert (await api.post(path, as_="alice", json={})).status_code == 422
    missing = await api.post("/backups/no-such/restore", as_="alice", json={"target": "shop"})
    assert missing.status_code == 404
    assert [op["description"] for op in (await api.get("/operations")).json()["items"]] == [
        "database backup of shop"
    ]
    assert await orders(shop_url) == ORDERS
