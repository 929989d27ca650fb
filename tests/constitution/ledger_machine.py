"""The ledger's property: whatever the services do, in any order, the rows are what it says.

A hypothesis state machine makes random sequences of the calls the API, the CLI and the
worker make (submissions, approvals, rejections, amendments, cancels, the freeze, the
worker's claims and journeys, a worker dying mid-step and the ruling on it, housekeeping,
checkpoints; tokens, alerts, silences and notifications in `ledger_alert_rules`; routine
tasks paused, resumed and scheduled in `ledger_task_rules`; workers
racing a cancel in `ledger_race_rules`; backups rotting on disk in `ledger_backup_rules`)
over one fresh database per example, on a clock the
machine moves. After every step `triad audit verify`'s function must find the chain and the
checkpoint log intact and no row that disagrees with the ledger, and the head must never
move back. A refused call must leave
the head and every governed row exactly as they were (`World.attempt`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.constitution.ledger_alert_rules import PICK, AlertRules
from tests.constitution.ledger_backup_rules import BackupRules
from tests.constitution.ledger_race_rules import RaceRules
from tests.constitution.ledger_task_rules import TaskRules
from tests.constitution.ledger_world import (
    ALICE,
    BOB,
    CAROL,
    EVE,
    JUDGE,
    KINDS,
    QUEEN,
    VIEWER,
    Databases,
    WorkerDied,
    World,
    build_request,
)
from triadops.constitution import lifecycle
from triadops.constitution.commits import Tick
from triadops.constitution.crown.reviews import review_change
from triadops.constitution.crown.service import (
    acknowledge,
    cancel_answer,
    cancel_operation,
    freeze,
    unfreeze,
)
from triadops.constitution.judicial.service import resolve_in_doubt
from triadops.constitution.legislative.approvals import approve_operation, reject_operation
from triadops.constitution.legislative.service import (
    amend_operation,
    review_request,
    store_reviewed,
    submit_operation,
)
from triadops.domain.clock import FakeClock, using
from triadops.domain.enums import Authority
from triadops.domain.errors import Conflict
from triadops.domain.identity import Identity
from triadops.domain.operations import StepSpec
from triadops.domain.sops import ReviewNotes
from triadops.ops.monitor import Monitor
from triadops.storage.operations import get_operation
from triadops.worker.claims import drive_once, keep_house

T = TypeVar("T")
SUBMITTER = st.sampled_from([ALICE, ALICE, ALICE, EVE, CAROL, BOB, VIEWER])
"""Mostly one who holds the executive authority the requests invoke."""
APPROVER = st.sampled_from([BOB, BOB, QUEEN, ALICE, CAROL, EVE])
"""Mostly a legislator who is neither requester nor author; sometimes one who may not."""
APPROVAL = st.sampled_from(
    [
        (BOB, Authority.LEGISLATIVE),
        (BOB, Authority.LEGISLATIVE),
        (QUEEN, Authority.CROWN),
        (CAROL, Authority.CROWN),
        (ALICE, Authority.LEGISLATIVE),
        (EVE, Authority.EXECUTIVE),
        (BOB, Authority.CROWN),
    ]
)
"""Mostly who may give the approvals high and critical plans need; sometimes the requester
(alice), an authority no rule asks for, or one the approver does not hold."""
CROWN_OR_NOT = st.sampled_from([CAROL, QUEEN, CAROL, ALICE])

CANCELLER = st.sampled_from([ALICE, CAROL, BOB])
"""The requester, the crown, or one who is neither."""
RULER = st.sampled_from([JUDGE, JUDGE, QUEEN, ALICE])
"""A judge, the crown, or one who may not rule."""
PENDING = ("later", "high", "critical", "dies", "emergency", "low", "on_cache")
"""Kinds of request that are often still open when a cancel or an amendment comes."""
STEPS = {
    "purge_90_days": [StepSpec(action="database.purge_audit_logs", params={"older_than_days": 90})],
    "noop": [StepSpec(action="noop")],
    "failing": [StepSpec(action="noop", params={"fail": True})],
}
ADVANCES = [1.0, 31.0, 301.0, 901.0, 3601.0, 4 * 3600.0 + 1, 24 * 3600.0 + 1]
"""Seconds the clock moves: past a group wait, a lease, an acknowledgement deadline, a
scheduled time, a repeat interval, an approval deadline."""


class LedgerMachine(AlertRules, BackupRules, RaceRules, TaskRules, RuleBasedStateMachine):
    """Random service calls over one database; the ledger must explain every row after each."""

    databases: ClassVar[Databases]
    key_file: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self._clock_scope: AbstractContextManager[Any] = using(self.clock)
        self._clock_scope.__enter__()
        self.world: World | None = None
        try:
            self.world = self.run(World.open(self.databases, self.key_file))
        except BaseException:
            self.teardown()  # hypothesis tears down only a machine that was made
            raise
        self.operations: dict[str, str] = {}
        """Stored operation id → the kind of request it came from."""
        self.serial = 0
        self.seen_head = 0
        self.monitor = Monitor(self.w.rt.powers, owner="monitor", collectors=[])

    @property
    def w(self) -> World:
        assert self.world is not None
        return self.world

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run one call to the end on the machine's own event loop."""
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        try:
            if self.world is not None:
                self.run(self.world.harvest())
                self.run(self.world.rt.close())
        finally:
            self._clock_scope.__exit__(None, None, None)
            self.loop.close()

    def pick(self, pick: int, kinds: tuple[str, ...] = ()) -> str | None:
        ids = [o for o, k in self.operations.items() if not kinds or k in kinds]
        return ids[pick % len(ids)] if ids else None

    def transaction(
        self, who: Identity, action: str, call: Callable[[AsyncSession], Awaitable[Any]]
    ) -> bool:
        """Make one service call in its own transaction, as a route does; see `World.attempt`."""

        async def work() -> None:
            async with self.w.rt.session() as session:
                await call(session)
                await lifecycle.commit(session)

        return self.run(self.w.attempt(work, who=who.name, action=action))

    @initialize(
        kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4),
        then_drive=st.booleans(),
    )
    def some_submissions(self, kinds: list[str], then_drive: bool) -> None:
        """Start with a few submissions, by those the requests suit, so later calls have work."""
        for n, kind in enumerate(kinds):
            who = CAROL if kind == "emergency" else ALICE
            self.submit(kind, who, grouped=n % 2 == 1, then_drive=then_drive)

    @rule(
        kind=st.sampled_from(sorted(KINDS)),
        who=SUBMITTER,
        grouped=st.booleans(),
        then_drive=st.booleans(),
    )
    def submit(self, kind: str, who: Identity, grouped: bool, then_drive: bool) -> None:
        """Submit alone (CLI) or in a group commit (API); a worker may take it at once."""
        if kind == "emergency" and self.serial % 2 == 0:
            who = CAROL  # the crown asks for most emergencies; anyone else is refused
        self.serial += 1
        req = build_request(kind, f"op-{self.serial}", who)
        powers = self.w.rt.powers

        async def alone() -> None:
            async with self.w.rt.session() as session:
                await submit_operation(session, powers, request=req, requester=who)
                await lifecycle.commit(session)

        async def in_a_group() -> None:  # as POST /operations does
            async with self.w.rt.session(read_only=True) as session:
                reviewed = await review_request(session, powers, request=req, requester=who)

            async def apply(write: AsyncSession, _tick: Tick) -> None:
                store_reviewed(write, powers, reviewed)

            try:
                await self.w.rt.submissions.submit(apply)
            except IntegrityError:
                raise Conflict(f"operation {req.operation_id!r} already exists") from None

        work = in_a_group if grouped else alone
        if not self.run(self.w.attempt(work, who=who.name, action="submit")):
            return
        self.operations[req.operation_id] = kind
        if then_drive and kind == "dies":
            self.worker_dies(req.operation_id)
        elif then_drive:
            self.drive()

    @precondition(lambda self: self.operations)
    @rule(pick=PICK, grouped=st.booleans())
    def submit_again(self, pick: int, grouped: bool) -> None:
        """The same operation id again: refused, alone or in a group."""
        operation_id = self.pick(pick)
        assert operation_id is not None
        req = build_request("low", operation_id, ALICE)
        powers = self.w.rt.powers

        async def call(session: AsyncSession) -> None:
            await submit_operation(session, powers, request=req, requester=ALICE)

        assert not self.transaction(ALICE, "submit", call), "a duplicate id was stored"

    @precondition(lambda self: self.operations)
    @rule(
        pick=PICK,
        approval=APPROVAL,
        reviewed=st.sampled_from(["current", "current", "current", "another"]),
        then_drive=st.booleans(),
    )
    def approve(
        self, pick: int, approval: tuple[Identity, Authority], reviewed: str, then_drive: bool
    ) -> None:
        """Approve the plan read just before (or another one: always refused)."""
        who, authority = approval
        operation_id = self.pick(pick, ("high", "critical"))
        if operation_id is None:
            return
        powers = self.w.rt.powers

        async def call(session: AsyncSession) -> None:
            current = (await get_operation(session, operation_id)).plan_hash or ""
            await approve_operation(
                session,
                powers,
                operation_id=operation_id,
                approver=who,
                authority=authority,
                plan_hash=current if reviewed == "current" else "f" * 64,
            )

        approved = self.transaction(who, "approve", call)
        assert not (approved and reviewed == "another"), "an approval of another plan counted"
        if approved and then_drive:
            self.drive()

    @precondition(lambda self: self.operations)
    @rule(pick=PICK, who=APPROVER)
    def reject(self, pick: int, who: Identity) -> None:
        operation_id = self.pick(pick, ("high", "critical"))
        if operation_id is None:
            return

        async def call(session: AsyncSession) -> None:
            await reject_operation(session, operation_id=operation_id, by=who, reason="not now")

        self.transaction(who, "reject", call)

    @precondition(lambda self: self.operations)
    @rule(pick=PICK, who=APPROVER, steps=st.sampled_from(sorted(STEPS)))
    def amend(self, pick: int, who: Identity, steps: str) -> None:
        operation_id = self.pick(pick, PENDING)
        if operation_id is None:
            return
        powers = self.w.rt.powers

        async def call(session: AsyncSession) -> None:
            await amend_operation(
                session, powers, operation_id=operation_id, steps=STEPS[steps], by=who
            )

        self.transaction(who, "amend", call)

    @precondition(lambda self: self.operations)
    @rule(pick=PICK, who=CANCELLER)
    def cancel(self, pick: int, who: Identity) -> None:
        operation_id = self.pick(pick, PENDING)
        if operation_id is None:
            return
        actions = self.w.rt.actions

        async def call(session: AsyncSession) -> None:  # as POST .../cancel does
            row = await cancel_operation(session, operation_id=operation_id, by=who)
            await cancel_answer(session, row, actions=actions)

        self.transaction(who, "cancel", call)

    @precondition(lambda self: "emergency" in self.operations.values())
    @rule(pick=PICK, who=CROWN_OR_NOT)
    def acknowledge(self, pick: int, who: Identity) -> None:
        operation_id = self.pick(pick, ("emergency",))
        assert operation_id is not None

        async def call(session: AsyncSession) -> None:
            await acknowledge(session, operation_id=operation_id, by=who)

        self.transaction(who, "acknowledge", call)

    def review(self, pick: int, who: Identity) -> None:
        """The crown reviews a change that ended (anyone else, or too early: refused).

        Called by the tour, not drawn by hypothesis: a new rule would change every
        derandomized sequence, and with them what the default examples reach.
        """
        operation_id = self.pick(pick)
        assert operation_id is not None
        notes = ReviewNotes(lessons=f"lessons of {operation_id}", note="by the machine")

        async def call(session: AsyncSession) -> None:
            await review_change(session, operation_id=operation_id, by=who, notes=notes)

        self.transaction(who, "review", call)

    @rule(who=CROWN_OR_NOT, on=st.booleans())
    def switch_freeze(self, who: Identity, on: bool) -> None:
        async def call(session: AsyncSession) -> None:
            if on:
                await freeze(session, by=who, reason="drill")
            else:
                await unfreeze(session, by=who)

        self.transaction(who, "freeze" if on else "unfreeze", call)

    @rule()
    def drive(self) -> None:
        """A worker's passes over due work until none is left (bounded)."""

        async def passes() -> None:
            for _ in range(20):
                if not await drive_once(self.w.rt.powers, owner="worker"):
                    return

        self.run(passes())

    @precondition(lambda self: "dies" in self.operations.values())
    @rule(pick=PICK, lease_runs_out=st.booleans())
    def a_worker_dies(self, pick: int, lease_runs_out: bool) -> None:
        """A worker dies mid-step; once its lease runs out another finds the step in doubt."""
        operation_id = self.pick(pick, ("dies",))
        assert operation_id is not None
        self.worker_dies(operation_id)
        if lease_runs_out:
            self.clock.advance(self.w.rt.settings.lease_s + 1)
            self.drive()

    def worker_dies(self, operation_id: str) -> None:
        """A worker claims the operation and dies in its non-idempotent step."""
        self.w.dies.doomed.add(operation_id)

        async def doomed() -> None:
            with suppress(WorkerDied):
                await drive_once(self.w.rt.powers, owner="doomed", only=operation_id)

        try:
            self.run(doomed())
        finally:
            self.w.dies.doomed.discard(operation_id)

    @precondition(lambda self: "dies" in self.operations.values())
    @rule(pick=PICK, who=RULER, took_effect=st.booleans())
    def rule_in_doubt(self, pick: int, who: Identity, took_effect: bool) -> None:
        """The judiciary (or the crown) rules on a step in doubt; the worker goes on."""
        operation_id = self.pick(pick, ("dies",))
        assert operation_id is not None

        async def call(session: AsyncSession) -> None:
            await resolve_in_doubt(
                session, operation_id=operation_id, step_succeeded=took_effect, by=who
            )

        if self.transaction(who, "rule", call):
            self.drive()

    @rule(seconds=st.sampled_from(ADVANCES))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def keep_house(self) -> None:
        """Approvals past their deadline rejected; late acknowledgements flagged."""
        self.run(keep_house(self.w.rt.powers))

    @rule()
    def checkpoint(self) -> None:
        self.run(self.w.checkpoint())

    @invariant()
    def the_ledger_explains_every_row(self) -> None:
        broken, found, walked, head = self.run(self.w.verify())
        assert broken == [], broken
        assert found == [], found
        assert walked == head, f"verify walked {walked} entries, the head is at {head}"
        assert head >= self.seen_head, f"the ledger head moved back from {self.seen_head}"
        self.seen_head = head
