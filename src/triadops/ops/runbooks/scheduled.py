"""A firing alert that a runbook answers starts that runbook, once, on the monitor's leader.

Each pass reads the firing alerts (by the state's index), keeps those a runbook answers and
that have no incident yet, and starts at most ``runbooks.max_running`` runs in the
background: a slow diagnosis or a resolution waiting for its approval never holds the
monitor. One alert gets one incident, however long it fires. With ``on_alert = "resolve"``
the resolution is requested by ``triad:runbooks``, an executive that approves nothing, so
whatever needs an approval waits for a person.
"""

from __future__ import annotations

import asyncio

import structlog

from triadops.constitution.legislative.service import (
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.constitution.powers import Powers
from triadops.domain.enums import Role
from triadops.domain.identity import Identity
from triadops.domain.operations import Operation, OperationRequest
from triadops.domain.principals import RUNBOOKS
from triadops.domain.runbooks import RunbookEntry
from triadops.ops.runbooks.catalogue import RunbookCatalogue, load_runbooks
from triadops.ops.runbooks.service import WAITING, troubleshoot
from triadops.storage.alerts import unresolved_alerts
from triadops.storage.incidents import troubleshot_alerts
from triadops.storage.records import load_operation

log = structlog.stdlib.get_logger(__name__)
POLL_S = 1.0
"""How often an automatic run reads its resolution's operation while the worker drives it."""
RUNBOOKS_IDENTITY = Identity(name=RUNBOOKS, roles=frozenset({Role.EXECUTIVE}))
"""Who requests an automatic run's resolution: a system actor no person can be."""


class AlertRunbooks:
    """The leader's follower of firing alerts: one troubleshooting run per alert."""

    def __init__(self, powers: Powers) -> None:
        self.powers = powers
        self.catalogue: RunbookCatalogue | None = None
        self.running: dict[int, asyncio.Task[None]] = {}

    def _runbooks(self) -> RunbookCatalogue:
        if self.catalogue is None:
            p = self.powers
            self.catalogue = load_runbooks(
                p.settings.home,
                checks=p.checks.names(),
                procedures=p.procedures.names(),
                actions=p.actions.names(),
            )
        return self.catalogue

    async def run(self) -> list[int]:
        """Start the runs due; return the alerts they were started for."""
        settings = self.powers.settings.runbooks
        self.running = {k: t for k, t in self.running.items() if not t.done()}
        if settings.on_alert == "off":
            return []
        catalogue = self._runbooks()
        async with self.powers.reading() as session:
            firing = [
                a
                for a in await unresolved_alerts(session, states=("firing",))
                if catalogue.answering(a.alertname) and a.id not in self.running
            ]
            done = await troubleshot_alerts(session, [a.id for a in firing])
        started = []
        for alert in firing:
            if alert.id in done:
                continue
            if len(self.running) >= settings.max_running:
                break
            entry = catalogue.answering(alert.alertname)[0]
            trigger = f"alert:{alert.id} {alert.alertname}"
            self.running[alert.id] = asyncio.create_task(self._one(entry, alert.id, trigger))
            started.append(alert.id)
        return started

    async def stop(self) -> None:
        """Cancel the runs still going (a new leader starts them again: no incident yet)."""
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        self.running = {}

    async def _one(self, entry: RunbookEntry, alert_id: int, trigger: str) -> None:
        powers = self.powers
        settings = powers.settings.runbooks

        async def submit(request: OperationRequest) -> str:
            async with powers.reading() as reading:
                reviewed = await review_request(
                    reading, powers, request=request, requester=RUNBOOKS_IDENTITY
                )
            async with powers.sessions() as session:
                store_reviewed(session, powers, reviewed)
                await commit_new_operation(session, request.operation_id)
            return request.operation_id

        async def settle(operation_id: str) -> Operation:
            return await watched(powers, operation_id, timeout_s=settings.resolve_wait_s)

        try:
            incident = await troubleshoot(
                powers,
                powers.procedures,
                entry,
                by=RUNBOOKS_IDENTITY,
                trigger=trigger,
                resolve=settings.on_alert == "resolve",
                submit=submit,
                settle=settle,
                alert_id=alert_id,
            )
            log.info(
                "alert troubleshot", incident=incident.id, status=incident.status, alert=alert_id
            )
        except Exception as exc:  # one run fails alone, logged without its locals
            log.warning("alert troubleshooting failed", alert=alert_id, error=type(exc).__name__)


async def watched(powers: Powers, operation_id: str, *, timeout_s: float) -> Operation:
    """The operation once a worker has driven it to its end or to a person, or at `timeout_s`.

    Only watches: the workers drive it, as they drive any request.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with powers.reading() as session:
            op = await load_operation(session, operation_id)
        person = op.status.value == "awaiting_approval"
        if op.status.is_final or person or op.status not in WAITING or loop.time() > deadline:
            return op
        await asyncio.sleep(POLL_S)
