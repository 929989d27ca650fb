"""Success records, proposals and pre-approvals, in the transactions that call for them.

``on_commit`` is a commit subscriber (``constitution.subscribers``) the runtime registers.
In the transaction that ends a run (completed, or failed for the first time), it counts
the run on its plan's record, proposes the plan to the legislature once it has passed
validation ``propose_after`` times in a row, and revokes a proposed or granted plan whose
run failed. In the transaction that sends an operation to wait for approval, it gives the
legislative approval of a granted plan, by the legislator who granted it, under every
approval rule: the gate is read on the locked record where the state changes, so a
revocation committed first is always seen. Each change of a record is a ledger entry
carrying the record after it (``constitution.ledger.standard_compare``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.constitution.executive.crown_consent import critical_steps
from triadops.constitution.legislative.approvals import record_approval
from triadops.domain.enums import Authority, OperationStatus, Role
from triadops.domain.errors import TriadError
from triadops.domain.events import (
    Queued,
    StandardEvent,
    StandardOutcome,
    StandardProposed,
    StandardRevoked,
    Transition,
)
from triadops.domain.identity import Identity
from triadops.domain.operations import PlanningResult, utcnow
from triadops.domain.standards import Outcome, Standing
from triadops.ops.standards.policy import STANDINGS, StandingChange
from triadops.settings.standards import StandardSettings
from triadops.storage import standards as store
from triadops.storage.governance import read_governance
from triadops.storage.operations import get_operation
from triadops.storage.tables import OperationRow, StandardChangeRow

log = structlog.stdlib.get_logger(__name__)

RULES = "legislative:standards"
"""The actor of what the rules do to a record: count a run, propose, revoke on failure."""
S = OperationStatus


@dataclass(frozen=True, slots=True)
class Ended:
    """A run's end, as the queued transition said it."""

    operation_id: str
    outcome: Outcome
    actor: str


def ended_runs(entries: Sequence[Queued]) -> list[Ended]:
    """The runs these entries end: completed, or failed for the first time (not a rollback's)."""
    found = []
    for entry in entries:
        event = entry.event
        if not isinstance(event, Transition) or entry.subject is None:
            continue
        if event.to_status == S.COMPLETED.value:
            found.append(Ended(entry.subject, Outcome.VALIDATED, entry.actor))
        elif event.to_status == S.FAILED.value and event.from_status != S.ROLLING_BACK.value:
            found.append(Ended(entry.subject, Outcome.FAILED, entry.actor))
    return found


async def on_commit(session: AsyncSession, entries: Sequence[Queued]) -> None:
    """Count the runs these entries end, then pre-approve what now waits for approval.

    Most commits end no run and send nothing to wait: they cost one pass over the queued
    entries. The governance is read only when a run is counted or a grant may apply.
    """
    ended = ended_runs(entries)
    waiting = [
        e.subject
        for e in entries
        if isinstance(e.event, Transition)
        and e.event.to_status == S.AWAITING_APPROVAL.value
        and e.subject is not None
    ]
    for run in ended:
        await count_run(session, run)
    for operation_id in waiting:
        await pre_approve(session, operation_id)


async def governing_settings(session: AsyncSession) -> StandardSettings:
    """The database's stored governance for standard changes (defaults before any is stored).

    Read in the transaction that applies it (one primary-key read): what every writer of
    the database shares, never one process's own settings.
    """
    row = await read_governance(session)
    stored: dict[str, Any] = dict(row.settings) if row is not None else {}
    prefix = "standards."
    said = {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
    return StandardSettings.model_validate(said)


def subject_of(row: OperationRow) -> str:
    """What the plan is, for people: its procedure, or its steps' actions."""
    if row.procedure:
        return f"procedure:{row.procedure}"
    steps = (row.plan or {}).get("steps") or []
    actions = [str(s.get("action")) for s in steps if isinstance(s, dict)]
    return "steps:" + ",".join(actions)


def needs_the_legislature(row: OperationRow) -> bool:
    """Whether the plan's review asked a legislator, and only a legislator, to approve it.

    Only then can a grant stand in for a person: a plan with a critical step, or one the
    crown must approve, never becomes a standard change.
    """
    finding = PlanningResult.model_validate(row.planning_result or {"approved": False})
    required = set(finding.required_approvals)
    return required == {Authority.LEGISLATIVE} and not critical_steps(row)


async def count_run(session: AsyncSession, run: Ended) -> None:
    """Count one run on its plan's record; propose or revoke as the record now says.

    A procedure's run, or a run of a plan a grant could stand in for, makes its record if
    it has none. Any other run of a plan that has one counts too: an emergency of the same
    steps (which no one approves) that fails takes the plan's standing away as well.
    """
    row = await get_operation(session, run.operation_id)
    if row.plan_hash is None:
        return
    eligible = needs_the_legislature(row)
    now = utcnow()
    if row.procedure or eligible:
        record = await store.record_for(session, row.plan_hash, subject=subject_of(row), now=now)
    else:
        found = await store.get_standard(session, row.plan_hash, for_update=True)
        if found is None:
            return  # no record, and this run makes none
        record = found
    governing = await governing_settings(session)
    store.counted(record, run.outcome, operation_id=row.id, at=now)
    say(session, record, StandardOutcome, run.actor, operation=row.id, outcome=run.outcome.value)
    standing = Standing(record.standing)
    if run.outcome is Outcome.FAILED and standing in {Standing.PROPOSED, Standing.STANDARD}:
        reason = (
            f"operation {row.id} failed: a standard change keeps its standing only while it passes"
        )
        _move(record, Standing.REVOKED, governing, reason=reason)
        say(session, record, StandardRevoked, RULES, reason=reason, operation=row.id)
        log.warning("standard change revoked", plan_hash=record.plan_hash, operation_id=row.id)
        return
    proposable = standing in {Standing.NONE, Standing.REVOKED}
    if governing.enabled and eligible and proposable and record.streak >= governing.propose_after:
        _move(record, Standing.PROPOSED, governing)
        say(session, record, StandardProposed, RULES, threshold=governing.propose_after)
        log.info("standard change proposed", plan_hash=record.plan_hash, subject=record.subject)


def _move(
    record: StandardChangeRow,
    target: Standing,
    governing: StandardSettings,
    *,
    reason: str | None = None,
) -> None:
    """Move the record past `STANDINGS`' rules, as the rules (no person)."""
    change = StandingChange(
        record.plan_hash, None, record.streak, governing.propose_after, reason=reason
    )
    STANDINGS.enforce(Standing(record.standing), target, change)
    store.stood(record, target, at=utcnow(), reason=reason)


def say(
    session: AsyncSession,
    record: StandardChangeRow,
    kind: type[StandardEvent],
    actor: str,
    **details: Any,
) -> None:
    """Record the record as it now is, in the kind of entry that changed it."""
    event = kind.model_validate(
        {
            "plan_hash": record.plan_hash,
            "subject": record.subject,
            "standing": record.standing,
            "streak": record.streak,
            "successes": record.successes,
            "failures": record.failures,
            **details,
        }
    )
    ledger.record(session, event, actor=actor)


async def pre_approve(session: AsyncSession, operation_id: str) -> None:
    """Give a waiting operation its legislative approval if its exact plan is granted.

    The grantor's approval counts under every approval rule: never for their own request
    or plan, only for the plan hash they granted, before the deadline. A refusal leaves
    the operation waiting for a person, as any other.
    """
    row = await get_operation(session, operation_id)
    if row.status != S.AWAITING_APPROVAL.value or row.plan_hash is None:
        return
    if not needs_the_legislature(row):
        return
    record = await store.get_standard(session, row.plan_hash, for_update=True)
    if record is None or record.standing != Standing.STANDARD.value or not record.decided_by:
        return
    if not (await governing_settings(session)).enabled:
        return
    grantor = Identity(name=record.decided_by, roles=frozenset({Role.LEGISLATIVE}))
    try:
        await record_approval(
            session,
            operation_id=row.id,
            approver=grantor,
            authority=Authority.LEGISLATIVE,
            plan_hash=row.plan_hash,
            standard=True,
        )
    except TriadError as exc:
        log.info(
            "standard change not applied",
            operation_id=row.id,
            plan_hash=row.plan_hash,
            why=exc.message,
        )
