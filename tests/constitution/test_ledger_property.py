"""The stored rows are what the ledger says, for random sequences of service calls.

`ledger_machine.LedgerMachine` makes the calls (submit, approve, reject, amend, cancel,
freeze, drive, a worker dying mid-step and the ruling on it, housekeeping, tokens, alerts,
silences, deliveries, checkpoints, backups and their recovery tests, a backup rotting on
disk) on a fresh SQLite file or PostgreSQL database per
example, and runs `triad audit verify`'s function after each. This replaces the hand-kept
parity between the services and the replay: a transition the replay does not know, or a row
a service writes without its entry, fails here. The last test proves the property can fail:
one row edited past the services after a short random run is named. A planned tour reaches
the rare paths on purpose, with the same check after every call.

Derandomized, as the API's scenario test is: the same sequences on every run and in CI, so a
failure seen once is seen again; set ``TRIAD_PROPERTY_EXAMPLES`` to explore that many new
random sequences locally (hypothesis prints how to reproduce a failure it finds).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import select, update

from tests.constitution.ledger_machine import PENDING, LedgerMachine
from tests.constitution.ledger_world import (
    ALICE,
    BOB,
    CAROL,
    EVE,
    JUDGE,
    KINDS,
    QUEEN,
    Databases,
)
from tests.fixtures.databases import PgScratch
from triadops.constitution.ledger.checkpoints import generate_key_file
from triadops.domain.alerts import Severity
from triadops.domain.enums import Authority, OperationStatus, Role
from triadops.storage.ledger import select_operation_entries
from triadops.storage.operations import get_operation
from triadops.storage.tables import OperationRow

EXPLORE = os.environ.get("TRIAD_PROPERTY_EXAMPLES")
"""Set, a number of new random sequences to explore (not derandomized) instead of the usual."""
EXAMPLES = int(EXPLORE or "20")
STEPS = int(os.environ.get("TRIAD_PROPERTY_STEPS", "25"))
"""The longest sequence: longer ones reach deeper states, at a cost per example."""
SEQUENCES = hypothesis.settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    derandomize=EXPLORE is None,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    print_blob=True,
)
"""Twenty sequences of up to twenty-five calls per database; no deadline (it is I/O).

Every example starts from a fresh database, so a failure shrinks to the shortest sequence
that shows it.
"""
REACHED = {
    "transition completed",
    "transition rolled_back",
    "transition failed",
    "transition cancelled",
    "step_rollback_failed",
    "checkpoint_signed",
    "refused",
    "submit refused",
    "approve refused",
    "cancel refused",
    "post alert done",
    "create token done",
}
"""What the default sequences must reach, so the property is never vacuous: the final states
a worker reaches, a rollback that fails, refusals, and calls on other subjects. The rarer
paths are reached on purpose by the tour below, whatever hypothesis draws."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    """Fresh databases of one kind, one per example."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        return Databases("sqlite", tmp_path / "examples", sqlite_template=template)
    scratch: PgScratch = request.getfixturevalue("pg_scratch")
    return Databases("postgres", tmp_path / "examples", scratch=scratch)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A checkpoint signing key, so checkpoints are signed and the log is checked."""
    path = tmp_path / "checkpoint.key"
    generate_key_file(path)
    return path


def machine_for(databases: Databases, key_file: Path) -> type[LedgerMachine]:
    """The state machine bound to this test's databases and key."""

    class Machine(LedgerMachine):
        pass

    Machine.databases = databases
    Machine.key_file = key_file
    return Machine


GUIDED = ["low", "fails", "rollback_fails"]
"""Submitted and driven once after the drawn sequences, then a cancel and a refused
duplicate, the invariant checked after each part: the worker's final states, a failing
rollback, a cancel and a refusal are reached whatever hypothesis draws, so a change
elsewhere that moves the drawn paths cannot leave the property without them."""


async def scheduled_time(tour: LedgerMachine, operation_id: str) -> datetime | None:
    async with tour.w.rt.session(read_only=True) as session:
        return (await get_operation(session, operation_id)).scheduled_time


async def status_of(tour: LedgerMachine, operation_id: str) -> str:
    async with tour.w.rt.session(read_only=True) as session:
        return (await get_operation(session, operation_id)).status


async def kinds_of(tour: LedgerMachine, operation_id: str) -> list[str]:
    async with tour.w.rt.session(read_only=True) as session:
        return [e.event for e in await select_operation_entries(session, operation_id)]


def guided(machine: type[LedgerMachine]) -> None:
    """Run the guided sequence on a machine of its own, checking the invariant after it."""
    tour = machine()
    try:
        tour.some_submissions(kinds=GUIDED, then_drive=True)
        tour.the_ledger_explains_every_row()
        # A request for later, cancelled by its requester while it waits.
        tour.submit("later", ALICE, grouped=False, then_drive=False)
        waiting = [o for o, kind in tour.operations.items() if kind in PENDING]
        tour.cancel(waiting.index(f"op-{tour.serial}"), ALICE)
        tour.submit_again(0, grouped=False)  # a duplicate id: refused
        tour.the_ledger_explains_every_row()
        # Work that needs the daily window, the clock jumping past its slot: the worker
        # moves it to the next one (a rescheduled entry), then runs it there.
        tour.submit("in_window", ALICE, grouped=False, then_drive=False)
        operation_id = f"op-{tour.serial}"
        placed = tour.run(scheduled_time(tour, operation_id))
        assert placed is not None
        tour.clock.advance((placed - tour.clock.now()).total_seconds() + 2 * 3600)
        tour.drive()
        tour.the_ledger_explains_every_row()
        moved = tour.run(scheduled_time(tour, operation_id))
        assert moved is not None and moved > tour.clock.now()
        assert "rescheduled" in tour.run(kinds_of(tour, operation_id))
        tour.clock.advance((moved - tour.clock.now()).total_seconds())
        tour.drive()
        tour.the_ledger_explains_every_row()
        assert tour.run(status_of(tour, operation_id)) == OperationStatus.COMPLETED.value
    finally:
        tour.teardown()


def test_the_rows_are_what_the_ledger_says(databases: Databases, key_file: Path) -> None:
    run_state_machine_as_test(machine_for(databases, key_file), settings=SEQUENCES)
    guided(machine_for(databases, key_file))

    assert databases.made >= EXAMPLES, "every example ran on a database of its own"
    if EXPLORE is None:
        assert REACHED - databases.seen == set()


@hypothesis.settings(
    SEQUENCES,
    max_examples=5,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[*SEQUENCES.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@hypothesis.given(
    kinds=st.lists(st.sampled_from(sorted(KINDS)), min_size=2, max_size=4),
    then_drive=st.booleans(),
    pick=st.integers(min_value=0, max_value=100),
    status=st.sampled_from(list(OperationStatus)),
)
def test_an_edited_status_fails_the_property(
    databases: Databases,
    key_file: Path,
    kinds: list[str],
    then_drive: bool,
    pick: int,
    status: OperationStatus,
) -> None:
    """The property can fail: a status edited past the services is named by verify."""
    machine = machine_for(databases, key_file)()
    try:
        machine.some_submissions(kinds, then_drive)
        machine.the_ledger_explains_every_row()
        operation_id = machine.pick(pick)
        hypothesis.assume(operation_id is not None)
        rt = machine.w.rt

        async def tamper() -> str | None:
            async with rt.session() as session:
                said = await session.scalar(
                    select(OperationRow.status).where(OperationRow.id == operation_id)
                )
                await session.execute(
                    update(OperationRow)
                    .where(OperationRow.id == operation_id)
                    .values(status=status.value)
                )
                await session.commit()
                return said

        said = machine.run(tamper())
        hypothesis.assume(said != status.value)
        broken, found, _, _ = machine.run(machine.w.verify())

        assert broken == [], "the chain itself was not touched"
        assert (
            f"operation {operation_id}: stored status {status.value} but the ledger's last "
            f"transition is to {said}"
        ) in found
        with pytest.raises(AssertionError, match=f"operation {operation_id}: stored status"):
            machine.the_ledger_explains_every_row()
    finally:
        machine.teardown()


TOURED = {
    "approval",
    "approve done",
    "approve refused",
    "amend done",
    "reject done",
    "transition rejected",
    "transition in_doubt",
    "step_ruled",
    "rule refused",
    "rule done",
    "freeze done",
    "unfreeze done",
    "unfreeze refused",
    "acknowledgement_overdue",
    "acknowledge refused",
    "acknowledge done",
    "cancel_requested",
    "cancel done",
    "cancel refused",
    "token_created",
    "token_revoked",
    "revoke token refused",
    "alert_fired",
    "alert_silenced",
    "alert_unsilenced",
    "alert_acknowledged",
    "add silence refused",
    "add silence done",
    "expire silence done",
    "alert_group_flushed",
    "notification_sent",
    "checkpoint_signed",
    "transition completed",
    "transition rolled_back",
    "review refused",
    "review done",
    "change_reviewed",
    "backup_restore_tested",
    "backup rotted",
    "recovery test failed",
}
"""What the tour must reach: a tour that stops reaching one no longer tests it."""


class Checked:
    """A machine whose every rule is followed by the invariant, as hypothesis runs it."""

    def __init__(self, machine: LedgerMachine) -> None:
        self.machine = machine
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        rule = getattr(self.machine, name)

        def checked(*args: Any, **kwargs: Any) -> None:
            rule(*args, **kwargs)
            self.calls += 1
            self.machine.the_ledger_explains_every_row()

        return checked

    def at(self, operation_id: str, kinds: tuple[str, ...] = ()) -> int:
        """The pick that makes a rule choose `operation_id` among the operations of `kinds`."""
        ids = [o for o, k in self.machine.operations.items() if not kinds or k in kinds]
        return ids.index(operation_id)


def tour_operations(m: Checked) -> None:
    """Approvals, an amendment, a rejection, rulings, the freeze, acknowledgements, cancels."""
    plans = ("high", "critical")
    m.some_submissions(["high", "critical", "dies", "emergency", "later"], then_drive=False)
    m.approve(m.at("op-1", plans), (BOB, Authority.LEGISLATIVE), "another", False)
    m.approve(m.at("op-1", plans), (ALICE, Authority.LEGISLATIVE), "current", False)
    m.a_worker_dies(m.at("op-3", ("dies",)), lease_runs_out=True)
    m.rule_in_doubt(m.at("op-3", ("dies",)), ALICE, took_effect=True)
    m.rule_in_doubt(m.at("op-3", ("dies",)), JUDGE, took_effect=False)
    m.approve(m.at("op-1", plans), (BOB, Authority.LEGISLATIVE), "current", True)
    m.amend(m.at("op-2"), ALICE, "purge_90_days")
    m.approve(m.at("op-2", plans), (QUEEN, Authority.CROWN), "current", False)
    m.approve(m.at("op-2", plans), (BOB, Authority.LEGISLATIVE), "current", True)
    m.submit("high", ALICE, grouped=True, then_drive=False)
    m.reject(m.at("op-6", plans), BOB)
    m.switch_freeze(CAROL, on=True)
    m.drive()
    m.switch_freeze(ALICE, on=False)
    m.switch_freeze(QUEEN, on=False)
    m.time_passes(901.0)
    m.keep_house()
    m.acknowledge(m.at("op-4", ("emergency",)), CAROL)
    m.acknowledge(m.at("op-4", ("emergency",)), QUEEN)
    m.submit("dies", ALICE, grouped=False, then_drive=True)
    m.cancel(m.at("op-7"), CAROL)
    m.cancel(m.at("op-5"), BOB)
    m.cancel(m.at("op-5"), ALICE)
    m.time_passes(31.0)
    m.drive()
    m.rule_in_doubt(m.at("op-7", ("dies",)), JUDGE, took_effect=True)
    m.review(m.at("op-1"), BOB)
    m.review(m.at("op-1"), QUEEN)
    m.review(m.at("op-1"), QUEEN)
    m.checkpoint()


def tour_alerts(m: Checked) -> None:
    """Tokens; alerts muted, flushed, delivered, escalated, acknowledged and unmuted."""
    m.create_token("ci", [Role.VIEWER], None)
    m.create_token("ci", [Role.VIEWER], None)
    m.revoke_token("ci")
    m.revoke_token("ci")
    m.post_alert("Noise", "cache", Severity.WARNING, False, "down", ALICE)
    m.post_alert("DiskFull", "db", Severity.CRITICAL, False, "down", EVE)
    m.add_silence("noise", ALICE, 3600.0)
    m.add_silence("noise", CAROL, 3600.0)
    m.time_passes(31.0)
    m.notify()
    m.time_passes(901.0)
    m.notify()
    m.answer_alert(1, BOB, resolve=False)
    m.expire_silence(0, CAROL)
    m.coordinate()
    m.checkpoint()


def tour_backups(m: Checked) -> None:
    """A backup tested, then rotting on disk: its next recovery test fails; then pruning."""
    m.submit("backup", ALICE, grouped=False, then_drive=True)
    m.a_backup_file_rots(0)
    m.submit("recovery_test", ALICE, grouped=True, then_drive=True)
    failed = m.machine.run(status_of(m.machine, f"op-{m.machine.serial}"))
    if failed in (OperationStatus.FAILED.value, OperationStatus.ROLLED_BACK.value):
        m.machine.w.seen.add("recovery test failed")
    m.submit("backup_prune", ALICE, grouped=False, then_drive=True)


def test_a_tour_of_the_rare_paths(databases: Databases, key_file: Path) -> None:
    machine = machine_for(databases, key_file)()
    checked = Checked(machine)
    try:
        machine.the_ledger_explains_every_row()
        tour_operations(checked)
        tour_alerts(checked)
        tour_backups(checked)
    finally:
        machine.teardown()

    assert checked.calls == 51
    assert TOURED - databases.seen == set()
