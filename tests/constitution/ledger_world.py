"""The world the ledger's property test drives: one runtime over a fresh database per example.

Everything here goes through the services the API and the worker call (no row is written by
hand). Refused calls are checked to leave the ledger head and every governed row as they
were. The one function that names `triad audit verify`'s code is :func:`verify_ledger`.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.databases import PgScratch, _pg_url
from tests.fixtures.pipeline import request
from triadops.actions.base import ActionContext, Output
from triadops.actions.noop import NoopOnceAction, NoopParams
from triadops.constitution import lifecycle
from triadops.constitution.crown.service import record_refusal
from triadops.constitution.ledger import audit as ledger_audit
from triadops.constitution.ledger import checkpoints
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from triadops.domain.identity import Identity
from triadops.domain.ledger import VerifyReport
from triadops.domain.operations import OperationRequest, utcnow
from triadops.runtime import Runtime
from triadops.settings import AlertSettings, LogChannel, Settings
from triadops.storage import ledger as ledger_store
from triadops.storage.tables import (
    AlertGroupRow,
    AlertRow,
    ApprovalRow,
    BackupRow,
    CrownStateRow,
    GovernanceRow,
    LedgerHeadRow,
    LedgerRow,
    MaintenanceTaskRow,
    NotificationRow,
    OperationRow,
    PrincipalRow,
    SilenceRow,
    StepRow,
    TokenRow,
)


async def verify_ledger(
    session: AsyncSession, *, alerts: AlertSettings
) -> tuple[VerifyReport, dict[str, dict[int, int]]]:
    """Run what ``triad audit verify`` runs: walk the chain, fold it, compare with the rows.

    Returns the report and the checkpoints the ledger records (by key id: seq → entry).
    The one place this test names the verifier: when it moves (to ``constitution.ledger``),
    only the import of ``ledger_audit`` above changes.
    """
    return await ledger_audit.verify_with_checkpoints(session, alerts=alerts)


REFUSED = (Conflict, Forbidden, InvalidRequest, NotFound)
"""What a service raises when it refuses a call: an expected outcome that changes nothing."""

ALICE = Identity(name="alice", roles=frozenset({Role.LEGISLATIVE, Role.EXECUTIVE}))
BOB = Identity(name="bob", roles=frozenset({Role.LEGISLATIVE}))
CAROL = Identity(name="carol", roles=frozenset({Role.CROWN}))
QUEEN = Identity(name="elizabeth", roles=frozenset({Role.CROWN}))
JUDGE = Identity(name="judy", roles=frozenset({Role.JUDICIAL}))
EVE = Identity(name="eve", roles=frozenset({Role.EXECUTIVE}))
VIEWER = Identity(name="vera", roles=frozenset({Role.VIEWER}))
PEOPLE = (ALICE, BOB, CAROL, QUEEN, JUDGE, EVE, VIEWER)

ALERTS = AlertSettings(
    channels={name: LogChannel() for name in ("leg", "exe", "jud", "crown", "pager")},
    routes={"legislative": ["leg"], "executive": ["exe"], "judicial": ["jud"], "crown": ["crown"]},
    fallback=["pager"],
    group_wait_s=30,
    group_interval_s=300,
    ack_timeout_s=900,
    renotify_limit=1,
)
"""Log channels on every route: deliveries are really sent, to the log notifier."""

PURGE = ("database.purge_audit_logs", {})
WIDE = ["a", "b", "c", "d"]
KINDS: dict[str, dict[str, Any]] = {
    "low": {"steps": [("noop", {})]},
    "two_steps": {"steps": [("noop", {}), ("noop.once", {})]},
    "fails": {"steps": [("noop", {}), ("noop", {"fail": True})]},
    "rollback_fails": {"steps": [("noop", {"fail_rollback": True}), ("noop", {"fail": True})]},
    "on_cache": {"steps": [("noop", {})], "affected_systems": ["cache"]},
    "procedure": {"procedure": "cache_cleanup"},
    "later": {"steps": [("noop", {})], "later_s": 3600},
    "in_window": {"steps": [("noop", {})], "window": "daily"},
    "high": {"steps": [PURGE], "affected_systems": WIDE, "rollback_plan": "restore the backup"},
    "critical": {"steps": [PURGE], "affected_systems": WIDE},
    "emergency": {
        "steps": [("noop", {})],
        "operation_type": "emergency",
        "constitutional_authority": "crown",
        "emergency_priority": True,
    },
    "dies": {"steps": [("drill.dies", {}), ("noop", {})]},
    "bad_action": {"steps": [("no.such.action", {})]},
    "backup": {
        "steps": [("backup.database", {}), ("backup.test_restore", {"backup_id": "latest"})],
        "affected_systems": ["backups"],
    },
    "recovery_test": {
        "steps": [("backup.test_restore", {"backup_id": "latest"})],
        "affected_systems": ["backups"],
    },
    "backup_prune": {"steps": [("backup.prune", {})], "affected_systems": ["backups"]},
}
"""What a submission asks for: a plain success, a failure that rolls back, one whose
rollback fails, one that needs the daily window (placed in it; moved on by the worker,
recorded, when the clock jumps past it), approvals by the legislature (high) or also the
crown (critical), an emergency, a step whose worker dies (in doubt), one the catalogue
refuses, a backup and its recovery test (a ``backup_restore_tested`` fact when it passes),
a recovery test alone (of a backup that may have rotted: then it fails), and retention
pruning backups (never the newest tested one)."""


def build_request(kind: str, operation_id: str, requester: Identity) -> OperationRequest:
    """Return the request of `kind`, asked for by `requester`."""
    spec = dict(KINDS[kind])
    steps = spec.pop("steps", [("noop", {})])
    later = spec.pop("later_s", None)
    if later is not None:
        spec["scheduled_time"] = utcnow() + timedelta(seconds=later)
    return request(steps, operation_id=operation_id, requested_by=requester.name, **spec)


class WorkerDied(BaseException):
    """The worker is gone mid-step: nothing after this line of its work happens."""


class DiesMidStep(NoopOnceAction):
    """A non-idempotent step whose worker dies while it runs, for the operations doomed."""

    name: ClassVar[str] = "drill.dies"
    description: ClassVar[str] = "Kill the worker in the middle of the step, when doomed"

    def __init__(self) -> None:
        self.doomed: set[str] = set()

    async def run(self, ctx: ActionContext, params: NoopParams) -> Output:
        """Die when this operation is doomed; otherwise finish as ``noop.once`` does."""
        if ctx.operation_id in self.doomed:
            raise WorkerDied
        return await super().run(ctx, params)


GOVERNED: tuple[type[Any], ...] = (
    OperationRow,
    StepRow,
    ApprovalRow,
    CrownStateRow,
    PrincipalRow,
    TokenRow,
    AlertRow,
    SilenceRow,
    AlertGroupRow,
    NotificationRow,
    GovernanceRow,
    LedgerHeadRow,
    MaintenanceTaskRow,
    BackupRow,
)
"""Every table whose rows the ledger proves, and its head."""


async def snapshot(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    """Return every governed row, in primary-key order, and the ledger's length."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for model in GOVERNED:
        table: Table = model.__table__
        result = await session.execute(select(table).order_by(*table.primary_key.columns))
        rows[table.name] = [tuple(r) for r in result.all()]
    count = await session.execute(select(LedgerRow.seq).order_by(LedgerRow.seq.desc()).limit(1))
    rows["ledger"] = [tuple(r) for r in count.all()]
    return rows


@dataclass
class Databases:
    """Fresh migrated databases for one test, one per example: SQLite copies or PostgreSQL."""

    kind: str
    folder: Path
    sqlite_template: Path | None = None
    scratch: PgScratch | None = None
    made: int = 0
    seen: set[str] = field(default_factory=set)
    """What the examples reached: each ledger event (a transition by its target state) and
    each refusal (``approve refused``), so the test can show the property is not vacuous."""

    async def fresh(self) -> tuple[str, Path]:
        """Return a new database's URL and a private data folder for it."""
        self.made += 1
        home = self.folder / f"example-{self.made}"
        shutil.rmtree(self.folder / f"example-{self.made - 1}", ignore_errors=True)
        home.mkdir(parents=True)
        if self.kind == "sqlite":
            assert self.sqlite_template is not None
            shutil.copy(self.sqlite_template, home / "triad.db")
            return f"sqlite+aiosqlite:///{home / 'triad.db'}", home
        assert self.scratch is not None
        await self.scratch.reset()
        return _pg_url(self.scratch.name), home


class World:
    """A runtime over one fresh database, with the calls the property test makes."""

    def __init__(self, rt: Runtime, dies: DiesMidStep, key_file: Path, seen: set[str]) -> None:
        self.rt = rt
        self.seen = seen
        self.dies = dies
        self.key = checkpoints.parse_private_key(key_file.read_bytes(), source=str(key_file))
        self.checkpoints = 0

    @classmethod
    async def open(cls, databases: Databases, key_file: Path) -> World:
        """Open a runtime over a fresh database, its governance stored as the server does."""
        url, home = await databases.fresh()
        settings = Settings(
            home=home,
            database_url=url,
            monitor=False,
            alerts=ALERTS,
            checkpoint_key_file=key_file,
        )
        rt = await Runtime.open(settings, migrate=False)
        dies = DiesMidStep()
        rt.actions.register(dies)
        await rt.check_governance(writer="property", adopt=True)
        return cls(rt, dies, key_file, databases.seen)

    async def head(self) -> int:
        """Return the ledger head's seq."""
        async with self.rt.session(read_only=True) as session:
            seq, _ = await ledger_store.head(session)
        return seq

    async def state(self) -> dict[str, list[tuple[Any, ...]]]:
        """Return every governed row (see :func:`snapshot`)."""
        async with self.rt.session(read_only=True) as session:
            return await snapshot(session)

    async def attempt(self, work: Callable[[], Awaitable[None]], *, who: str, action: str) -> bool:
        """Make one call (its own transactions); True if it went through.

        A refusal must change nothing: no ledger entry, no row. A Forbidden one is then put
        on the record in its own transaction, as the API's error handler does.
        """
        before = await self.state()
        try:
            await work()
        except REFUSED as refused:
            assert await self.state() == before, f"{action} was refused ({refused}) but wrote"
            self.seen.add(f"{action} refused")
            if isinstance(refused, Forbidden):
                await self.record_refusal(who=who, action=action, reason=refused.message)
            return False
        self.seen.add(f"{action} done")
        return True

    async def record_refusal(self, *, who: str, action: str, reason: str) -> None:
        """Record a refused governance action, as the API does for every 403 on a write."""
        seq = await self.head()
        async with self.rt.session() as session:
            record_refusal(session, actor=who, action=action, reason=reason)
            await lifecycle.commit(session)
        assert await self.head() == seq + 1

    async def harvest(self) -> None:
        """Add the ledger's kinds of event to `seen` (transitions by the state they reach)."""
        async with self.rt.session(read_only=True) as session:
            rows = await session.execute(select(LedgerRow.event, LedgerRow.to_status).distinct())
            for event, to_status in rows.all():
                self.seen.add(f"{event} {to_status}" if event == "transition" else event)

    async def checkpoint(self) -> None:
        """Sign the head into the log and record it, as a worker's checkpoint loop does."""
        log_path = self.rt.settings.resolved_checkpoint_log
        async with self.rt.session(read_only=True) as session:
            due = await checkpoints.checkpoint_due(
                session, public_key=self.key.public_key(), log_path=log_path
            )
            if not due:
                return
            signed = await checkpoints.write_checkpoint(session, key=self.key, log_path=log_path)
        async with self.rt.session() as session:
            checkpoints.record_checkpoint(session, signed)
            await lifecycle.commit(session)
        self.checkpoints += 1

    async def verify(self) -> Verdict:
        """Verify as ``triad audit verify`` does, in one read-only snapshot with the head.

        The checkpoint log is held to the ledger once one was written, as the CLI does.
        """
        async with self.rt.session(read_only=True) as session:
            report, recorded = await verify_ledger(session, alerts=ALERTS)
            broken = [report.problem] if report.problem else []
            if self.checkpoints:
                public = self.key.public_key()
                checked = await checkpoints.check_log(
                    session,
                    log_path=self.rt.settings.resolved_checkpoint_log,
                    public_key=public,
                    recorded=recorded.get(checkpoints.public_key_id(public), {}),
                )
                broken += checked.problems
            seq, _ = await ledger_store.head(session)
        found = [str(d) for d in report.discrepancies]
        return Verdict(broken, found, report.entries_checked, seq)


class Verdict(NamedTuple):
    """What verification found, with the head it saw."""

    broken: list[str]
    """Why the chain or the checkpoint log does not hold (empty: both hold)."""
    found: list[str]
    """Each stored row that disagrees with the ledger."""
    walked: int
    head: int
