"""Fold the ledger into each branch's stage totals: durations, and how many went wrong.

A stage is the time an operation spent in a state a branch owns, recorded as ``stage_s`` on
the transition that left it (``lifecycle.transition``); the crown's stage is the time to an
emergency's acknowledgement. Links written before ``stage_s`` existed are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority
from triadops.domain.enums import OperationStatus as S
from triadops.storage import stages as store
from triadops.storage.stages import StageTotal

BRANCH_OF_STATE: dict[str, Authority] = {
    S.SUBMITTED.value: Authority.LEGISLATIVE,
    S.REVIEWING.value: Authority.LEGISLATIVE,
    S.EXECUTING.value: Authority.EXECUTIVE,
    S.ROLLING_BACK.value: Authority.EXECUTIVE,
    S.VALIDATING.value: Authority.JUDICIAL,
    S.IN_DOUBT.value: Authority.JUDICIAL,
}
"""The branch whose work a state is. Approved and scheduled are waits, not anyone's work, and
awaiting approval is a wait for people: hours there say nothing about the branch's health."""
ERROR_TARGETS = frozenset({S.FAILED.value, S.IN_DOUBT.value})
"""Leaving a stage for one of these counts as the stage going wrong."""
CROWN_EVENTS = {"acknowledged": "ok", "acknowledgement_overdue": "error"}
FOLD_BATCH = 5000


def classify(
    event: str, from_status: str | None, to_status: str | None, details: Any
) -> tuple[str, str, float] | None:
    """Return (branch, outcome, seconds) for a link that ends a stage, else None."""
    seconds = details.get("stage_s") if isinstance(details, dict) else None
    if not isinstance(seconds, int | float):
        return None
    if event == "transition" and from_status in BRANCH_OF_STATE:
        outcome = "error" if to_status in ERROR_TARGETS else "ok"
        return BRANCH_OF_STATE[from_status].value, outcome, float(seconds)
    if event in CROWN_EVENTS:
        return Authority.CROWN.value, CROWN_EVENTS[event], float(seconds)
    return None


def totals_of(links: Sequence[tuple[int, str, Any, Any, Any]]) -> list[StageTotal]:
    """Sum the stages the links end."""
    totals: dict[tuple[str, str], StageTotal] = {}
    for _, event, from_status, to_status, details in links:
        found = classify(event, from_status, to_status, details)
        if found is None:
            continue
        branch, outcome, seconds = found
        total = totals.get((branch, outcome))
        if total is None:
            total = totals[(branch, outcome)] = StageTotal(branch, outcome)
        total.observe(seconds)
    return list(totals.values())


async def fold(powers: Powers, *, batch: int = FOLD_BATCH) -> int:
    """Fold up to `batch` new links into the totals; return how many links were read.

    Links are read without the write lock; the totals are added in a short transaction
    that first checks nobody folded the same links meanwhile (then this fold does nothing).
    """
    async with powers.sessions() as session:
        await session.connection(execution_options={"triad_read_only": True})
        start = await store.cursor(session, store.STAGE_CURSOR)
        links = await store.links_after(session, start, limit=batch)
    if not links:
        return 0
    totals = totals_of(links)
    async with powers.sessions() as session:
        if await store.lock_cursor(session, store.STAGE_CURSOR) != start:
            return 0
        await store.add_totals(session, totals, name=store.STAGE_CURSOR, position=links[-1][0])
        await session.commit()
    return len(links)


async def fold_all(powers: Powers, *, batch: int = FOLD_BATCH, most: int = 20) -> int:
    """Fold until caught up, at most `most` batches; return how many links were read."""
    read = 0
    for _ in range(most):
        n = await fold(powers, batch=batch)
        read += n
        if n < batch:
            break
    return read
