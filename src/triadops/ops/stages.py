"""Fold the ledger into each branch's stage totals: durations, and how many went wrong.

A stage is the time an operation spent in a state a branch owns, recorded as ``stage_s`` on
the transition that left it (``lifecycle.transition``); the crown's stage is the time to an
emergency's acknowledgement. Links written before ``stage_s`` existed are not counted.

Each stage gets an outcome, so the health report can judge a branch by what it did:

- ``ok``: the branch's stage ended as planned; ``error``: the branch's own code (its system
  principal, ``executive:…``, ``judicial:rules``…) ended it in failure or doubt;
  ``stopped``: a person ended it (a cancel by the requester or the crown, a ruling), which is
  nobody's failure but the stage's time still counts.
- ``wait``: time waiting, not deciding: an operation queued for a worker (submitted).
- ``step`` and ``slow_step``: an action's own run inside the executive's stages (its
  ``duration_s``), slow when it took more than ``health.thresholds.slow_step_share`` of its
  action's declared ``timeout_s``. The executive's decision time is its stages' time less its
  steps'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority
from triadops.domain.enums import OperationStatus as S
from triadops.domain.errors import NotFound
from triadops.storage import stages as store
from triadops.storage.stages import StageTotal

OK, ERROR, STOPPED, WAIT, STEP, SLOW_STEP = "ok", "error", "stopped", "wait", "step", "slow_step"
STAGE_OUTCOMES = (OK, ERROR, STOPPED)
"""Outcomes of a branch's own stages: what its decision time and error rate are read from."""
STEP_OUTCOMES = (STEP, SLOW_STEP)
"""Outcomes of the actions run inside the executive's stages (already in their time)."""
BRANCH_OF_STATE: dict[str, Authority] = {
    S.REVIEWING.value: Authority.LEGISLATIVE,
    S.EXECUTING.value: Authority.EXECUTIVE,
    S.ROLLING_BACK.value: Authority.EXECUTIVE,
    S.VALIDATING.value: Authority.JUDICIAL,
    S.IN_DOUBT.value: Authority.JUDICIAL,
}
"""The branch whose work a state is. Approved and scheduled are waits, not anyone's work, and
awaiting approval is a wait for people: hours there say nothing about the branch's health."""
WAIT_OF_STATE: dict[str, Authority] = {S.SUBMITTED.value: Authority.LEGISLATIVE}
"""States that are a wait in a branch's queue: counted as time, never as its decisions."""
ERROR_TARGETS = frozenset({S.FAILED.value, S.IN_DOUBT.value})
"""Leaving a stage for one of these counts as the stage going wrong."""
CROWN_EVENTS = {"acknowledged": OK, "acknowledgement_overdue": ERROR}
STEP_EVENTS = frozenset(
    {"step_succeeded", "step_failed", "step_rolled_back", "step_rollback_failed"}
)
FOLD_BATCH = 5000
SYSTEM_PRINCIPALS = frozenset(a.value for a in Authority)
"""The prefixes of the branches' own principals (``executive:w1``, ``judicial:rules``)."""

TimeoutOf = Callable[[str], float | None]
"""An action's declared timeout in seconds, by name; None for an action no longer known."""


def by_the_system(actor: str) -> bool:
    """True when `actor` is a branch's own principal, not a person."""
    prefix, colon, _ = actor.partition(":")
    return bool(colon) and prefix in SYSTEM_PRINCIPALS


def classify(
    event: str,
    from_status: str | None,
    to_status: str | None,
    details: Any,
    *,
    actor: str = "",
    timeout_of: TimeoutOf | None = None,
    slow_share: float = 0.8,
) -> tuple[str, str, float] | None:
    """Return (branch, outcome, seconds) for a link that ends a stage or a step, else None."""
    if not isinstance(details, dict):
        return None
    if event in STEP_EVENTS:
        return _step(details, timeout_of, slow_share)
    seconds = details.get("stage_s")
    if not isinstance(seconds, int | float):
        return None
    if event == "transition" and from_status in WAIT_OF_STATE:
        return WAIT_OF_STATE[from_status].value, WAIT, float(seconds)
    if event == "transition" and from_status in BRANCH_OF_STATE:
        outcome = OK
        if to_status in ERROR_TARGETS:
            outcome = ERROR if by_the_system(actor) else STOPPED
        return BRANCH_OF_STATE[from_status].value, outcome, float(seconds)
    if event in CROWN_EVENTS:
        return Authority.CROWN.value, CROWN_EVENTS[event], float(seconds)
    return None


def _step(
    details: dict[str, Any], timeout_of: TimeoutOf | None, slow_share: float
) -> tuple[str, str, float] | None:
    seconds, action = details.get("duration_s"), details.get("action")
    if not isinstance(seconds, int | float) or not isinstance(action, str):
        return None
    timeout_s = timeout_of(action) if timeout_of is not None else None
    slow = timeout_s is not None and seconds > slow_share * timeout_s
    return Authority.EXECUTIVE.value, SLOW_STEP if slow else STEP, float(seconds)


def totals_of(
    links: Sequence[tuple[int, str, Any, Any, Any, str]],
    *,
    timeout_of: TimeoutOf | None = None,
    slow_share: float = 0.8,
) -> list[StageTotal]:
    """Sum the stages and steps the links end."""
    totals: dict[tuple[str, str], StageTotal] = {}
    for _, event, from_status, to_status, details, actor in links:
        found = classify(
            event,
            from_status,
            to_status,
            details,
            actor=actor,
            timeout_of=timeout_of,
            slow_share=slow_share,
        )
        if found is None:
            continue
        branch, outcome, seconds = found
        total = totals.get((branch, outcome))
        if total is None:
            total = totals[(branch, outcome)] = StageTotal(branch, outcome)
        total.observe(seconds)
    return list(totals.values())


def timeouts(powers: Powers) -> TimeoutOf:
    """Return the registered actions' declared timeouts, by name."""

    def timeout_of(action: str) -> float | None:
        try:
            return float(powers.actions.get(action).timeout_s)
        except NotFound:
            return None

    return timeout_of


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
    totals = totals_of(
        links,
        timeout_of=timeouts(powers),
        slow_share=powers.settings.health.thresholds.slow_step_share,
    )
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
