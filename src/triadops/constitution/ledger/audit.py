"""Verification that replays the ledger and names every stored record that disagrees.

The hash chain alone proves only that the ledger agrees with itself. :func:`verify` walks
it once, checking each link with the same ``ChainWalk`` as :func:`ledger.verify`, and folds
every entry into what the ledger says each operation, step, approval, token, principal,
alert, silence, notification group and delivery, routine maintenance task, and the crown's
freeze, must be now (``folds``, ``alert_audit``, ``notification_audit``, ``task_audit``).
Then it reads the stored rows and names each one that differs (``compare``,
``alert_compare``, ``task_audit``).

What it proves: every transition the ledger records is one the lifecycle allows
(``lifecycle.TRANSITIONS`` and ``STEP_TRANSITIONS``, the tables the services move by) and
starts where the operation's, or the step's, previous one ended; every stored operation was
submitted in the ledger and is in the state its last transition says, with the plan (document,
hash, author) and approved plan hash the ledger recorded; its step rows hash to that plan and
are in the state of their last ledger entry; every approval and token row was recorded, with
the same approver, authority, plan hash, roles, principal, revocation and hash fingerprint;
every principal was created in the ledger as the kind it is stored as (or, from before the
ledger recorded principals, belongs to a token issued then); nothing the ledger recorded is
missing; the freeze is where the ledger left it; the stored
governance is the last one a ``governance_set`` entry recorded. State ahead of
the ledger (a tail cut off with the head moved back) shows up as records the ledger does not
explain.

What it cannot prove: someone who can write the database can also write the ledger, so a
state change accompanied by forged entries that explain it (appended at the tail, or an
edit with every later hash recomputed) replays clean; signed checkpoints catch those up
to the last checkpoint, nothing catches them after it. Entries written before a field
existed (a ``plan`` entry without ``author``, a ``token_created`` without ``principal`` or
``fingerprint``, step entries without ``status``) leave that one aspect unchecked rather
than reporting a difference. What the ledger does not carry is not compared: requests,
results, step outputs and errors, timestamps, deadlines, leases, baselines and the access
log.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.ledger import alert_compare, compare
from triadops.constitution.ledger.alert_audit import ALERT_READERS, AlertingState, is_alert_event
from triadops.constitution.ledger.backup_compare import compare_backups
from triadops.constitution.ledger.chain import ChainWalk, Pacer
from triadops.constitution.ledger.chain_folds import CHAIN_READERS
from triadops.constitution.ledger.folds import (
    OPERATION_READERS,
    LedgerState,
    OperationState,
)
from triadops.constitution.ledger.incident_compare import compare_incidents
from triadops.constitution.ledger.notification_audit import NotificationState
from triadops.constitution.ledger.standard_compare import compare_standards
from triadops.constitution.ledger.task_audit import TASK_READERS, TasksState, compare_tasks
from triadops.domain.ledger import Discrepancy, VerifyReport
from triadops.settings import AlertSettings
from triadops.storage import audit as store
from triadops.storage.backups import tested_backups
from triadops.storage.governance import read_governance
from triadops.storage.incidents import stored_reports
from triadops.storage.ledger import StoredLink, head, iterate_link_batches
from triadops.storage.standards import stored_standards

OPERATION_BATCH = 100
"""Operations compared per batch: each holds the loop while compared (50 costs a fifth
more in database round trips, 200 holds the loop twice as long)."""


class Replay:
    """Fold ledger entries into the state they imply, then compare it with stored rows."""

    def __init__(self, *, group_wait_s: float | None = None) -> None:
        self.state = LedgerState()
        self.alerting = AlertingState(notifications=NotificationState(group_wait_s))
        self.tasks = TasksState()

    def feed(self, link: StoredLink, details: Any) -> None:
        """Apply one entry, its details decoded, to the state it changes."""
        event, subject = link[3], link[4]  # see StoredLink
        if not isinstance(details, dict):
            details = {}
        reader = ALERT_READERS.get(event)
        if reader is not None:
            # An alert's, a silence's, a group's or a delivery's, wherever it is filed.
            reader.fold(self.alerting, reader.event(link, details), link)
            return
        reader = TASK_READERS.get(event)
        if reader is not None:  # a routine maintenance task's
            reader.fold(self.tasks, reader.event(link, details), link)
            return
        state = self.state
        if subject is not None:
            reader = OPERATION_READERS.get(event)
            if reader is None and is_alert_event(event):
                return  # of the alerts' family but of no kind known: it changes nothing
            op = state.operations.get(subject)
            if op is None:
                op = state.operations[subject] = OperationState()
            if reader is not None:
                reader.fold(state, op, reader.event(link, details), link)
            return
        reader = CHAIN_READERS.get(event)
        if reader is not None:
            reader.fold(state, reader.event(link, details), link)

    @property
    def found(self) -> list[Discrepancy]:
        """What the folds and the comparisons found, in the order they found it."""
        return self.state.found + self.alerting.found


class Verified(NamedTuple):
    """The report, and what the checkpoint log must hold: the checkpoints the ledger records."""

    report: VerifyReport
    checkpoints: dict[str, dict[int, int]]
    """By key id: each recorded checkpoint's seq → the entry that records it."""


async def verify(session: AsyncSession, *, alerts: AlertSettings | None = None) -> VerifyReport:
    """Walk the chain once, replaying it, and name every stored record that disagrees.

    Reads only; call it on a fresh (read-only) session: it asks PostgreSQL for one
    snapshot for the whole walk, so a worker committing meanwhile causes no finding.
    With the alert settings, a notification group no flush has recorded yet is held to
    its group wait too.
    """
    return (await verify_with_checkpoints(session, alerts=alerts)).report


async def verify_with_checkpoints(
    session: AsyncSession, *, alerts: AlertSettings | None = None
) -> Verified:
    """Verify as :func:`verify` does; also return the checkpoints the ledger records."""
    await store.read_snapshot(session)
    group_wait_s = alerts.group_wait_s if alerts is not None else None
    walk, replay, pacer = ChainWalk(), Replay(group_wait_s=group_wait_s), Pacer()
    async with aclosing(iterate_link_batches(session)) as batches:
        async for links in batches:
            for link, details in zip(links, walk.check(links), strict=True):
                replay.feed(link, details)
            await pacer.turn()
    walk.check_head(*await head(session))
    state = replay.state
    operations = 0
    async for batch in store.iterate_operations(session, batch=OPERATION_BATCH):
        operations += len(batch.operations)
        compare.compare_operations(state, batch)
        await pacer.turn()
    compare.compare_unstored(state)
    tokens = await store.select_tokens(session)
    compare.compare_tokens(state, tokens)
    compare.compare_principals(state, await store.select_principals(session), tokens)
    compare.compare_freeze(state, await store.select_freeze(session))
    for problem in compare.governance_problems(state.governance, await read_governance(session)):
        state.say("governance", "governance", problem)
    backups = await tested_backups(session, state.backups_tested)
    compare_backups(state, backups)
    compare_incidents(state, await stored_reports(session))
    compare_standards(state, await stored_standards(session))
    await alert_compare.compare_stored(session, replay.alerting, pacer)
    found = replay.found + await compare_tasks(session, replay.tasks)
    report = VerifyReport(
        ok=walk.problem is None and not found,
        entries_checked=walk.checked,
        first_bad_seq=walk.first_bad_seq,
        problem=walk.problem,
        discrepancies=found,
        operations_checked=operations,
        tokens_checked=len(tokens),
    )
    return Verified(report, state.checkpoints)
