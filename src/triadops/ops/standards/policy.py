"""Who moves a plan's standing, and when: rule classes on the edges of `STANDINGS`.

The rules themselves propose a plan (none or revoked → proposed) and take its standing
away when one of its runs fails (proposed or standard → revoked). A person decides the
rest, with the legislative role: grant (proposed or declined → standard), decline
(proposed → declined), revoke (proposed or standard → revoked). A grant stands on an
unbroken record: the streak is read again, on the locked row, where the grant is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, TriadError
from triadops.domain.identity import Identity
from triadops.domain.rules import Rule, RuleBook
from triadops.domain.standards import Standing

S = Standing
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class StandingChange:
    """An attempt to move a plan's standing: who (None: the rules), why, on what record."""

    plan_hash: str
    by: Identity | None
    streak: int
    """The record's streak, as locked in the deciding transaction."""
    propose_after: int
    """The governing threshold: validated runs in a row before a plan is proposed."""
    reason: str | None = None


class ALegislatorDecides(Rule[Standing, StandingChange]):
    reason = "Pre-approving a plan is the legislature's power: a person holding its role decides."

    def check(self, attempt: StandingChange) -> TriadError | None:
        by = attempt.by
        if by is None or by.holds(Role.LEGISLATIVE):
            return None
        return Forbidden(
            f"{by.name} does not hold the legislative role: only the legislature grants, "
            "declines or revokes a standard change"
        )


class OnlyAPersonGrants(Rule[Standing, StandingChange]):
    to_states = frozenset({S.STANDARD, S.DECLINED})
    reason = "The rules propose; only a person grants or declines."

    def check(self, attempt: StandingChange) -> TriadError | None:
        if attempt.by is not None:
            return None
        return Forbidden("the rules propose a standard change; only a legislator decides it")


class GrantOnAnUnbrokenRecord(Rule[Standing, StandingChange]):
    to_states = frozenset({S.STANDARD})
    reason = "A grant stands on the validated runs it was proposed for, none failed since."

    def check(self, attempt: StandingChange) -> TriadError | None:
        if attempt.streak >= attempt.propose_after:
            return None
        return Conflict(
            f"standard change {attempt.plan_hash[:12]}…: its record shows {attempt.streak} "
            f"validated run(s) in a row since its last failure, fewer than the "
            f"{attempt.propose_after} a grant needs"
        )


class SaysWhy(Rule[Standing, StandingChange]):
    to_states = frozenset({S.DECLINED, S.REVOKED})
    reason = "The ledger keeps why a plan keeps needing approval."

    def check(self, attempt: StandingChange) -> TriadError | None:
        text = (attempt.reason or "").strip()
        if attempt.by is not None and not text:
            return InvalidRequest("reason: say why (it goes in the ledger)", field="reason")
        if len(text) > MAX_REASON:
            return InvalidRequest(f"reason: at most {MAX_REASON} characters", field="reason")
        return None


def _refused(source: Standing, target: Standing) -> TriadError:
    verbs = {S.STANDARD: "granted", S.DECLINED: "declined", S.REVOKED: "revoked"}
    return Conflict(
        f"a standard change that is {source.value} cannot be {verbs.get(target, target.value)}",
        field="standing",
    )


STANDINGS: RuleBook[Standing, StandingChange] = RuleBook(
    "standard change",
    {
        S.NONE: frozenset({S.PROPOSED}),
        S.PROPOSED: frozenset({S.STANDARD, S.DECLINED, S.REVOKED}),
        S.DECLINED: frozenset({S.STANDARD}),
        S.STANDARD: frozenset({S.REVOKED}),
        S.REVOKED: frozenset({S.PROPOSED}),
    },
    [ALegislatorDecides, OnlyAPersonGrants, GrantOnAnUnbrokenRecord, SaysWhy],
    forbidden=_refused,
)
"""A plan's standing: its edges and the rules that guard them, enforced in ``records``."""
