"""The audit names an operation whose stored client (``via``) is not its ledger entry's."""

from __future__ import annotations

from sqlalchemy import update

from tests.fixtures.api import Api, noop_request
from triadops.constitution import lifecycle
from triadops.runtime import Runtime
from triadops.storage.tables import OperationRow


async def test_an_edited_via_is_named_and_an_honest_one_verifies(api: Api, rt: Runtime) -> None:
    said = await api.submit({**noop_request(), "via": "mcp:claude"})
    plain = await api.submit(noop_request())
    assert (await api.get("/audit/verify")).json()["ok"]

    for operation_id, forged in ((said["operation_id"], None), (plain["operation_id"], "cli")):
        async with rt.session() as session:
            await session.execute(
                update(OperationRow).where(OperationRow.id == operation_id).values(via=forged)
            )
            await lifecycle.commit(session)
    report = (await api.get("/audit/verify")).json()
    problems = {d["subject"]: d["problem"] for d in report["discrepancies"]}
    assert not report["ok"]
    assert problems[f"operation {said['operation_id']}"] == (
        "stored client None but the ledger's submission came via 'mcp:claude'"
    )
    assert problems[f"operation {plain['operation_id']}"] == (
        "stored client 'cli' but the ledger's submission came via None"
    )
