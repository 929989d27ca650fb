"""The listings' filters walk an index, so their cost does not grow with the history."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.fixtures.pipeline import request, submit
from triadops.domain.enums import OperationStatus, OperationType
from triadops.runtime import Runtime
from triadops.storage.listing import list_operations
from triadops.storage.reviews import due_query


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("status = 'completed'", "ix_operations_status_created_at"),
        ("operation_type = 'maintenance'", "ix_operations_operation_type_created_at"),
    ],
)
async def test_filtered_listings_use_an_index(runtime: Runtime, where: str, index: str) -> None:
    query = f"SELECT id FROM operations WHERE {where} ORDER BY created_at DESC LIMIT 50"
    async with runtime.engine.connect() as conn:
        plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert index in details, details
    assert "SCAN operations" not in details.replace(f"USING INDEX {index}", "")


async def test_several_states_are_merged_from_index_walks(runtime: Runtime) -> None:
    made = [await submit(runtime, request()) for _ in range(5)]
    async with runtime.session(read_only=True) as session:
        both = await list_operations(
            session, statuses=[OperationStatus.SCHEDULED, OperationStatus.REJECTED], limit=3
        )
        page2 = await list_operations(
            session,
            statuses=[OperationStatus.SCHEDULED, OperationStatus.COMPLETED],
            limit=3,
            offset=3,
        )
        none = await list_operations(
            session, statuses=[OperationStatus.FAILED, OperationStatus.COMPLETED]
        )
    newest_first = [op.operation_id for op in reversed(made)]
    assert [r.id for r in both] == newest_first[:3]
    assert [r.id for r in page2] == newest_first[3:]
    assert none == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_reviews_due_walk_an_index(runtime: Runtime) -> None:
    stmt = due_query([OperationType.DEPLOYMENT, OperationType.EMERGENCY], 50)
    query = stmt.compile(runtime.engine, compile_kwargs={"literal_binds": True})
    async with runtime.engine.connect() as conn:
        plan = (await conn.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
    details = " ".join(str(row[-1]) for row in plan)
    index = "ix_operations_status_operation_type"
    assert index in details, details
    assert "SCAN operations" not in details.replace(f"USING INDEX {index}", "")
