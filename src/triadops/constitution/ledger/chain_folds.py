"""What the ledger says the things filed under no subject are now: their folds.

Principals and tokens, the crown's freeze, governance, checkpoints, incident reports and
standard changes: each entry of these kinds names its thing in its details, not in the
entry's subject column. Same shape as the operation folds (``folds``), read through the
same :class:`folds.Reader`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from triadops.constitution.ledger.folds import (
    ACTOR,
    SEQ,
    Entry,
    LedgerState,
    PrincipalState,
    Reader,
    TokenState,
    known,
)
from triadops.domain.events import (
    EVENT_TYPES,
    CheckpointSigned,
    Freeze,
    GovernanceSet,
    IncidentRecorded,
    LedgerEvent,
    PrincipalCreated,
    StandardEvent,
    TokenCreated,
    TokenRevoked,
    Unfreeze,
)

STANDARD_FIELDS: Final = ("subject", "standing", "streak", "successes", "failures")
"""What a standard change's entry says its record is after it (``StandardEvent``)."""


def fold_incident(state: LedgerState, event: IncidentRecorded, e: Entry) -> None:
    """The incident's stored report must be the one its last entry recorded."""
    state.incidents[event.incident] = event.digest


def fold_principal_created(state: LedgerState, event: PrincipalCreated, e: Entry) -> None:
    """A principal exists from its creation, of the kind it was created as."""
    name = event.name
    if isinstance(name, str):
        state.principals[name] = PrincipalState(kind=known(event.principal_kind))


def fold_token_created(state: LedgerState, event: TokenCreated, e: Entry) -> None:
    """A token is issued: its roles, principal and hash fingerprint."""
    roles = event.roles
    state.tokens[str(event.name)] = TokenState(
        roles=sorted(str(r) for r in roles) if isinstance(roles, list) else [],
        principal=known(event.principal),
        fingerprint=known(event.fingerprint),
    )


def fold_token_revoked(state: LedgerState, event: TokenRevoked, e: Entry) -> None:
    """A token is revoked."""
    token = state.tokens.get(str(event.name))
    if token is not None:
        token.revoked = True


def fold_freeze(state: LedgerState, event: Freeze, e: Entry) -> None:
    """The crown's freeze is the last freeze or unfreeze: a freeze, by its actor."""
    state.freeze_said, state.frozen_by = "freeze", e[ACTOR]


def fold_unfreeze(state: LedgerState, event: Unfreeze, e: Entry) -> None:
    """The crown's freeze is the last freeze or unfreeze: lifted."""
    state.freeze_said, state.frozen_by = "unfreeze", None


def fold_governance(state: LedgerState, event: GovernanceSet, e: Entry) -> None:
    """The stored governance must be the last one set."""
    said: dict[str, Any] = event.__dict__
    state.governance = dict(said)


def fold_checkpoint(state: LedgerState, event: CheckpointSigned, e: Entry) -> None:
    """The log must hold every checkpoint the ledger records for its key."""
    seq, key = event.seq, event.key_id
    if isinstance(seq, int) and isinstance(key, str):
        state.checkpoints.setdefault(key, {})[seq] = e[SEQ]


def fold_standard(state: LedgerState, event: StandardEvent, e: Entry) -> None:
    """A plan's stored record must be what its last entry says, its decider that entry's.

    Granting, declining and revoking by a person name the person (the entry's actor); a
    run's outcome and a proposal leave the decider as it was.
    """
    said: dict[str, Any] = event.__dict__
    plan = said.get("plan_hash")
    if not isinstance(plan, str):
        return
    record = {name: said.get(name) for name in STANDARD_FIELDS}
    kind = event.kind if isinstance(event.kind, str) else ""
    before = state.standards.get(plan, {})
    if kind in {"standard_granted", "standard_declined"} or (
        kind == "standard_revoked" and "operation" not in said
    ):
        record["decided_by"] = e[ACTOR]
    else:
        record["decided_by"] = before.get("decided_by")
    state.standards[plan] = record


ChainFold = Callable[[LedgerState, Any, Entry], None]

CHAIN_FOLDS: Final[dict[type[LedgerEvent], ChainFold]] = {
    PrincipalCreated: fold_principal_created,
    TokenCreated: fold_token_created,
    TokenRevoked: fold_token_revoked,
    Freeze: fold_freeze,
    Unfreeze: fold_unfreeze,
    GovernanceSet: fold_governance,
    CheckpointSigned: fold_checkpoint,
    IncidentRecorded: fold_incident,
    **{kind: fold_standard for kind in EVENT_TYPES.values() if issubclass(kind, StandardEvent)},
}
"""The folds of entries filed under no subject: principals, tokens, the crown, governance,
checkpoints, incidents and standard changes."""

CHAIN_READERS: Final = {
    kind.model_fields["kind"].default: Reader(kind, fold) for kind, fold in CHAIN_FOLDS.items()
}
