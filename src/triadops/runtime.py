"""The one composition root: api, cli, web and worker all build a Runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import JsonValue
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from triadops.actions.builtin import builtin_actions
from triadops.actions.commands.declared import command_actions
from triadops.actions.http import http_actions
from triadops.actions.procedures import ProcedureCatalogue, load_catalogue
from triadops.actions.registry import ActionRegistry, load_entry_point_actions
from triadops.checks.builtin import builtin_checks
from triadops.checks.http_probe import http_probe_checks
from triadops.checks.registry import CheckRegistry, load_entry_point_checks
from triadops.constitution import ledger, lifecycle, policy, subscribers
from triadops.constitution.commits import Submissions
from triadops.constitution.powers import Powers
from triadops.constitution.sops import USER_FOLDER, SopCatalogue
from triadops.constitution.sops import load_catalogue as load_sops
from triadops.domain.agents import RULES, AgentName
from triadops.domain.alerts import AlertIn
from triadops.domain.clock import utcnow
from triadops.domain.errors import Conflict, TasksInvalid
from triadops.domain.investigations import Investigation
from triadops.domain.runbooks import Incident
from triadops.ops import change_silences
from triadops.ops.alerts.raised import raise_alerts
from triadops.ops.backup import service as backup_service
from triadops.ops.backup.checks import backup_checks
from triadops.ops.backup.recovery import backup_actions
from triadops.ops.backup.restored import RestoreMatchesBackup
from triadops.ops.health.api_errors import RequestCounts
from triadops.ops.logs.checks import log_checks
from triadops.ops.maintenance.runs import check_tasks
from triadops.ops.runbooks.catalogue import RunbookCatalogue, load_runbooks
from triadops.ops.standards import records as standard_records
from triadops.settings import Settings
from triadops.storage import governance, wakeups
from triadops.storage.engine import create_engine, session_factory
from triadops.storage.migrate import upgrade
from triadops.storage.targets import DatabaseTargets
from triadops.worker import work

if TYPE_CHECKING:
    from triadops.agents.wiring import Agents


def subscribe() -> None:
    """Register what reacts to commits: silences, recovery tests, standards, then wake-ups.

    In this order: the silences' own entries, and the operations a standard change
    pre-approved, are queued before the wake-ups read them.
    """
    subscribers.register(change_silences.on_commit)
    subscribers.register(backup_service.on_commit)
    subscribers.register(standard_records.on_commit)
    subscribers.register(wakeups.on_commit)


def registries(settings: Settings) -> tuple[ActionRegistry, CheckRegistry]:
    """Build the actions and checks a process may use; no database needed."""
    actions = ActionRegistry(
        [
            *builtin_actions(),
            *backup_actions(),
            *command_actions(settings),
            *http_actions(settings),
            *load_entry_point_actions(),
        ]
    )
    checks = CheckRegistry(
        [
            *builtin_checks(),
            *backup_checks(),
            RestoreMatchesBackup(),
            *log_checks(),
            *http_probe_checks(settings),
            *load_entry_point_checks(),
        ]
    )
    return actions, checks


def catalogues(settings: Settings) -> tuple[ActionRegistry, CheckRegistry, ProcedureCatalogue]:
    """Build the actions, checks and procedures a process may use; no database needed.

    Raises ProceduresInvalid, naming each file and key, when a procedure file has a mistake,
    and TasksInvalid, naming each task, when a routine task does not fit the catalogue.
    """
    actions, checks = registries(settings)
    procedures = load_catalogue(settings, actions=actions, checks=checks.names())
    problems = check_tasks(settings.task_table(), procedures)
    if problems:
        raise TasksInvalid(problems)
    return actions, checks, procedures


@dataclass
class Runtime:
    """Everything a running triadops needs, built once per process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    databases: DatabaseTargets
    actions: ActionRegistry
    checks: CheckRegistry
    procedures: ProcedureCatalogue
    sops: SopCatalogue
    """The SOP templates in force: the shipped ones and the user's (``$TRIAD_HOME/sops``)."""
    runbooks: RunbookCatalogue
    """The troubleshooting runbooks: the shipped ones and the user's (``$TRIAD_HOME/runbooks``)."""
    submissions: Submissions
    """Group commit for requests that arrive together (the API's submissions)."""
    agents: Agents | None = None
    """The AI triad's agents; None with ``model = "rules"`` (no agent framework loaded)."""

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        """Connect, apply migrations and load the action, check and procedure catalogues.

        A procedure file with a mistake stops it (ProceduresInvalid) before it connects.
        """
        # Every branch's gates are in the lifecycle's books before any state can change.
        missing = policy.missing_gates()
        if missing:
            raise RuntimeError(f"gates missing from the lifecycle: {', '.join(missing)}")
        actions, checks, procedures = catalogues(settings)
        subscribe()
        for folder in (settings.home, settings.log_dir, settings.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        sops = load_sops(settings.home / USER_FOLDER)  # a misfit refuses to open
        runbooks = load_runbooks(
            settings.home,
            checks=checks.names(),
            procedures=procedures.names(),
            actions=actions.names(),
        )
        engine = create_engine(settings.resolved_database_url)
        try:
            if migrate:
                await upgrade(engine)
            sessions = session_factory(engine)
            agents = None
            if settings.consults_models:
                # Only now: with model = "rules" the agent framework is never imported.
                from triadops.agents.wiring import build

                agents = build(settings, sessions, actions, procedures)
        except BaseException:
            await asyncio.shield(engine.dispose())  # nobody else holds it to close it
            raise
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            submissions=Submissions(sessions),
            databases=DatabaseTargets(engine, settings.database_targets),
            actions=actions,
            checks=checks,
            procedures=procedures,
            sops=sops,
            runbooks=runbooks,
            agents=agents,
        )

    @property
    def powers(self) -> Powers:
        """The means the constitution's branches work with."""
        return Powers(
            settings=self.settings,
            engine=self.engine,
            sessions=self.sessions,
            databases=self.databases,
            actions=self.actions,
            checks=self.checks,
            procedures=self.procedures,
            sops=self.sops,
            plan_advisor=self.agents.planner if self.agents else None,
            step_executor=self.agents.executor if self.agents else None,
            verdict_advisor=self.agents.evaluator if self.agents else None,
            alerts=self.raise_alerts,
        )

    async def investigate(self, incident: Incident) -> Investigation:
        """Ask the investigator agent about `incident`: it reads, never acts; off on ``rules``."""
        consultant = None
        if self.agents is not None:
            consultant = self.agents.consultants.get(AgentName.INVESTIGATOR)
        if consultant is None:
            note = "no model for the investigator: set agents.investigator or model"
            return Investigation(status="off", model=RULES, notes=[note])
        from triadops.agents.investigator import Investigator
        from triadops.ops.runbooks.evidence import Evidence

        investigator = Investigator(
            consultant,
            Evidence(self.powers),
            runbooks=self.runbooks.names(),
            procedures=self.procedures,
        )
        return await investigator.investigate(incident)

    async def raise_alerts(self, alerts: Sequence[AlertIn]) -> None:
        """Store alerts an action raised, in a transaction of their own (ops' ingest)."""
        await raise_alerts(self.sessions, self.settings, alerts)

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """Yield a session; the caller commits (through lifecycle.commit) or it rolls back.

        A read-only session takes no write lock on SQLite, so reads never wait for writers.
        """
        async with self.sessions() as session:
            if read_only:
                # storage.engine.READ_ONLY: a deferred BEGIN on SQLite.
                await session.connection(execution_options={"triad_read_only": True})
            yield session

    def governance(self) -> dict[str, JsonValue]:
        """What every writer of one database must share: settings, procedures' and SOPs' digests."""
        return {
            **self.settings.governance(),
            **self.procedures.digests(),
            **self.sops.governance(),
        }

    async def check_governance(self, *, writer: str, adopt: bool = False) -> str | None:
        """Refuse (Conflict) to write under other governing settings than the database's.

        Every writer of one database must apply the same `Settings.governance`. The first
        writer stores its own. With `adopt` (the server, which owns them) a difference
        replaces the stored settings instead. Returns what to say on start, if anything.
        The loaded procedures are governance too: each one's digest, as ``procedures.<name>``.
        """
        mine = self.governance()
        async with self.session() as session:
            row = await governance.read_governance(session)
            if row is not None and row.hash == governance.governance_hash(mine):
                return None
            if row is None or adopt:
                changed = [] if row is None else governance.differences(row.settings, mine)
                stored, ours = await governance.store_governance(
                    session, settings=mine, set_by=writer, now=utcnow()
                )
                if ours:  # the ledger proves the governance as it proves any state
                    ledger.record(
                        session,
                        governance.governance_entry(stored),
                        actor=governance.GOVERNANCE_ACTOR,
                    )
                await lifecycle.commit(session)
                if not changed:
                    return (
                        "governing settings stored: every writer of this database must share them"
                    )
                return f"governing settings changed ({', '.join(changed)}), set by {writer}"
        differ = governance.differences(row.settings, mine)
        first = differ[0]
        more = f" (and {len(differ) - 1} more: {', '.join(differ[1:])})" if len(differ) > 1 else ""
        set_at = row.set_at.isoformat(timespec="seconds")
        raise Conflict(
            f"refusing to write: this process's {first} is {mine.get(first)!r} but the "
            f"database's governance says {row.settings.get(first)!r} (set by {row.set_by} at "
            f"{set_at}){more}; run remotely with TRIAD_URL or use the same settings"
        )

    async def work(
        self,
        *,
        stop: asyncio.Event,
        owner: str | None = None,
        request_counts: RequestCounts | None = None,
    ) -> None:
        """Start the worker's loops (``triadops.worker.work``) until `stop` is set."""
        await work(self.powers, stop=stop, owner=owner, request_counts=request_counts)

    async def close(self) -> None:
        """Stop the submission committer and dispose of every engine."""
        try:
            await self.submissions.stop()
            if self.agents is not None:
                await self.agents.aclose()
        finally:
            # Whatever failed above, no driver connection is left to the garbage collector.
            try:
                await self.databases.dispose()
            finally:
                await self.engine.dispose()
