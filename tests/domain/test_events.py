"""The ledger's vocabulary: every kind has a model, every model a fold, every fold a test."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from triadops.constitution.ledger.alert_audit import ALERT_FOLDS
from triadops.constitution.ledger.chain_folds import CHAIN_FOLDS
from triadops.constitution.ledger.folds import NOT_FOLDED, OPERATION_FOLDS
from triadops.constitution.ledger.task_audit import TASK_FOLDS
from triadops.domain.events import (
    EVENT_TYPES,
    AnyEvent,
    LedgerEvent,
    PlanAdopted,
    PrincipalCreated,
    Transition,
    UnknownEvent,
    parse_event,
)


def _models(base: type[LedgerEvent]) -> set[type[LedgerEvent]]:
    found = set()
    for sub in base.__subclasses__():
        found |= _models(sub)
        if not sub.model_fields["kind"].is_required():
            found.add(sub)
    return found


def test_every_model_is_in_the_union_under_its_own_kind() -> None:
    assert set(EVENT_TYPES.values()) == _models(LedgerEvent)
    for kind, model in EVENT_TYPES.items():
        assert model.model_fields["kind"].default == kind


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_kind_is_folded_once_or_says_why_not(kind: str) -> None:
    model = EVENT_TYPES[kind]
    homes = [
        model in OPERATION_FOLDS,
        model in CHAIN_FOLDS,
        model in ALERT_FOLDS,
        model in TASK_FOLDS,
        kind in NOT_FOLDED,
    ]
    assert homes.count(True) == 1, homes


def test_the_kinds_not_folded_are_kinds() -> None:
    assert set(NOT_FOLDED) <= set(EVENT_TYPES)


def test_the_union_tells_kinds_apart() -> None:
    parsed = TypeAdapter(AnyEvent).validate_python(
        {"kind": "transition", "from_status": "a", "to_status": "b", "stage_s": 1.5}
    )
    assert isinstance(parsed, Transition)
    assert parsed.details() == {"stage_s": 1.5}
    assert parsed.statuses() == ("a", "b")


def test_details_keep_the_keys_set_and_the_declared_order() -> None:
    plan = PlanAdopted(plan_hash="h", author=None, risk="low", steps=2, required_approvals=[])
    assert list(plan.details()) == ["plan_hash", "author", "risk", "steps", "required_approvals"]
    drafted = plan.model_copy(update={"drafted_by": "m"})
    assert list(drafted.details())[-1] == "drafted_by"


def test_a_detail_whose_key_is_kind_is_stored_as_kind() -> None:
    made = PrincipalCreated(name="ci", principal_kind="service")
    assert made.details() == {"name": "ci", "kind": "service"}
    assert parse_event("principal_created", made.details()) == made


def test_values_are_kept_as_written_never_coerced() -> None:
    with pytest.raises(ValidationError):
        Transition.model_validate({"from_status": "a", "to_status": "b", "stage_s": True})
    with pytest.raises(ValidationError):
        parse_event("transition", {"stage_s": 1, "sneaky": 1}, from_status="a", to_status="b")
    assert parse_event("transition", {"stage_s": 1}, from_status="a", to_status="b").details() == {
        "stage_s": 1
    }


def test_a_kind_no_model_describes_is_refused() -> None:
    with pytest.raises(UnknownEvent):
        parse_event("note", {})
    with pytest.raises(UnknownEvent):
        parse_event("freeze", {"kind": "x", "reason": "r"})
