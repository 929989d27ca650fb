"""The ledger machine's rules for tokens, alerts, silences and their notifications.

A mixin of `ledger_machine.LedgerMachine`: each rule is one call the API or the monitor makes,
through `LedgerMachine.transaction` (a refusal must change nothing) or as the loop makes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import rule
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.constitution.ledger_world import ALERTS, ALICE, CAROL, EVE, PEOPLE
from triadops.constitution.crown import tokens
from triadops.domain.alerts import AlertIn, Matcher, Severity
from triadops.domain.enums import Authority, Role
from triadops.domain.identity import Identity
from triadops.domain.operations import utcnow
from triadops.ops.alerts import service as alerts
from triadops.ops.alerts import silences
from triadops.ops.alerts.dispatch import run_cycle
from triadops.storage.tables import AlertRow, SilenceRow

if TYPE_CHECKING:
    from tests.constitution.ledger_machine import LedgerMachine

PICK = st.integers(min_value=0, max_value=1_000)
"""Which of the subjects made so far a rule acts on (modulo how many there are)."""
PERSON = st.sampled_from(PEOPLE)
ALERT_NAMES = ["DiskFull", "DatabaseDown", "Noise"]
SILENCES = {
    "noise": ['alertname="Noise"'],
    "cache": ['system="cache"', 'severity!~"(critical|emergency)"'],
    "disk": ['alertname="DiskFull"'],
    "pages": ['alertname="DatabaseDown"', 'severity="emergency"'],
    "everything": ['alertname=~".*"'],
}
"""Plain ones, one scoped as a change's, one only the crown may add, and one refused (every
matcher also matches a missing label)."""
SILENCER = st.sampled_from([ALICE, EVE, CAROL, *PEOPLE])
"""Mostly one who may silence (executive, legislative or crown)."""


class AlertRules:
    """Tokens, alerts, silences, notifications and the monitor's pass."""

    @rule(
        name=st.sampled_from(["ci", "deploy", "bot", "Alice "]),
        roles=st.sampled_from([[Role.VIEWER], [Role.EXECUTIVE, Role.LEGISLATIVE], []]),
        principal=st.sampled_from([None, None, "dora", "triad"]),
    )
    def create_token(
        self: LedgerMachine, name: str, roles: list[Role], principal: str | None
    ) -> None:
        async def call(session: AsyncSession) -> None:
            await tokens.create_token(
                session, name=name, roles=roles, by=CAROL.name, principal=principal
            )

        self.transaction(CAROL, "create token", call)

    @rule(name=st.sampled_from(["ci", "deploy", "bot", "nobody"]))
    def revoke_token(self: LedgerMachine, name: str) -> None:
        async def call(session: AsyncSession) -> None:
            await tokens.revoke_token(session, name=name, by=CAROL.name)

        self.transaction(CAROL, "revoke token", call)

    @rule(
        name=st.sampled_from(ALERT_NAMES),
        system=st.sampled_from(["cache", "db"]),
        severity=st.sampled_from(list(Severity)),
        resolved=st.sampled_from([False, False, True]),
        summary=st.sampled_from(["down", "still down"]),
        who=st.sampled_from([ALICE, CAROL, EVE]),
    )
    def post_alert(
        self: LedgerMachine,
        name: str,
        system: str,
        severity: Severity,
        resolved: bool,
        summary: str,
        who: Identity,
    ) -> None:
        """Post an alert (or its resolution) as ``POST /alerts`` does."""
        alert = AlertIn(
            labels={"alertname": name, "system": system},
            annotations={"summary": summary},
            severity=severity,
            status="resolved" if resolved else "firing",
        )

        async def call(session: AsyncSession) -> None:
            await alerts.ingest(
                session,
                [alert],
                source="api",
                now=utcnow(),
                settings=ALERTS,
                by=who.name,
                crown=who.holds(Authority.CROWN),
            )

        self.transaction(who, "post alert", call)

    @rule(pick=PICK, who=PERSON, resolve=st.booleans())
    def answer_alert(self: LedgerMachine, pick: int, who: Identity, resolve: bool) -> None:
        ids = self.run(_ids(self, AlertRow.id))
        alert_id = int(ids[pick % len(ids)]) if ids else pick

        async def call(session: AsyncSession) -> None:
            if resolve:
                await alerts.resolve(session, alert_id=alert_id, by=who, now=utcnow())
            else:
                await alerts.acknowledge(session, alert_id=alert_id, by=who, now=utcnow())

        self.transaction(who, "resolve alert" if resolve else "acknowledge alert", call)

    @rule(
        matchers=st.sampled_from(sorted(SILENCES)),
        who=SILENCER,
        duration_s=st.sampled_from([60.0, 3600.0]),
    )
    def add_silence(self: LedgerMachine, matchers: str, who: Identity, duration_s: float) -> None:
        parsed = [Matcher.parse(m) for m in SILENCES[matchers]]

        async def call(session: AsyncSession) -> None:
            await silences.add_silence(
                session,
                matchers=parsed,
                comment="drill",
                by=who,
                now=utcnow(),
                duration_s=duration_s,
                max_duration_s=ALERTS.max_silence_s,
            )

        self.transaction(who, "add silence", call)

    @rule(pick=PICK, who=SILENCER)
    def expire_silence(self: LedgerMachine, pick: int, who: Identity) -> None:
        ids = self.run(_ids(self, SilenceRow.id, newest_first=True))
        silence_id = str(ids[pick % len(ids)]) if ids else "no-such-silence"

        async def call(session: AsyncSession) -> None:
            await silences.expire_silence(session, silence_id=silence_id, by=who, now=utcnow())

        self.transaction(who, "expire silence", call)

    @rule()
    def notify(self: LedgerMachine) -> None:
        """One dispatcher cycle: escalate, flush due groups, deliver to the log channels."""
        self.run(run_cycle(self.w.rt.sessions, now=utcnow(), settings=ALERTS, owner="w1"))

    @rule()
    def coordinate(self: LedgerMachine) -> None:
        """The monitor's alert pass: expire what ended, close stale change silences, page."""
        self.run(self.monitor.coordinate(utcnow()))
        self.run(self.monitor.page_unacknowledged(utcnow()))


async def _ids(machine: LedgerMachine, column: Any, *, newest_first: bool = False) -> list[Any]:
    """Return the ids in `column`, in order: what a rule's pick chooses from."""
    order = column.desc() if newest_first else column
    async with machine.w.rt.session(read_only=True) as session:
        return list(await session.scalars(select(column).order_by(order)))
