"""The alert lifecycle's table and rules: what each edge allows and who each rule refuses.

The services and the emergency doors are tried through the database elsewhere
(test_service.py, test_emergency_doors.py); here the table is read on its own, so a new
edge or a rule that guards the wrong edge fails by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from triadops.domain.alerts import AlertState, Severity
from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden
from triadops.domain.identity import Identity
from triadops.ops.alerts import lifecycle
from triadops.ops.alerts.policy import ALERT_RULES, Act, Attempt
from triadops.ops.alerts.silence_policy import SILENCE_RULES

FIRING, ACKNOWLEDGED = AlertState.FIRING, AlertState.ACKNOWLEDGED
SILENCED, RESOLVED = AlertState.SILENCED, AlertState.RESOLVED

ANN = Identity(name="ann", roles=frozenset({Role.EXECUTIVE}))
KING = Identity(name="king", roles=frozenset({Role.CROWN}))
VIEWER = Identity(name="vic", roles=frozenset({Role.VIEWER}))


def attempt(
    act: Act,
    *,
    state: AlertState = FIRING,
    severity: Severity = Severity.WARNING,
    by: Identity | str = ANN,
    crown: bool = False,
    acknowledged_by: str | None = None,
    resolved_by: str | None = None,
    raised_by: str | None = None,
) -> Attempt:
    return Attempt(
        act,
        7,
        "Fire",
        severity,
        state,
        by,
        crown=crown,
        acknowledged_by=acknowledged_by,
        resolved_by=resolved_by,
        raised_by=raised_by,
    )


def test_a_resolved_alert_goes_nowhere_and_every_other_state_can_end() -> None:
    assert lifecycle.ALERT_EDGES[RESOLVED] == frozenset()
    for state in (FIRING, ACKNOWLEDGED, SILENCED):
        assert lifecycle.ALERTS.allows(state, RESOLVED)
    assert not lifecycle.ALERTS.allows(RESOLVED, FIRING)
    with pytest.raises(Conflict, match="cannot move from resolved to firing"):
        lifecycle.enforce(FIRING, attempt(Act.REFIRE, state=RESOLVED))


def test_every_rule_says_why_in_one_line() -> None:
    for rule in (*ALERT_RULES, *SILENCE_RULES):
        assert rule.reason and "\n" not in rule.reason, rule.__name__


def test_a_refusal_says_why_before_the_edge_does() -> None:
    resolved = attempt(Act.ACKNOWLEDGE, state=RESOLVED, resolved_by="bob")
    with pytest.raises(Conflict, match="alert 7 was resolved by bob"):
        lifecycle.enforce(RESOLVED, resolved)
    # A viewer is told it may not handle alerts before it is told the alert is resolved.
    with pytest.raises(Forbidden, match="vic holds no authority"):
        lifecycle.enforce(RESOLVED, attempt(Act.RESOLVE, state=RESOLVED, by=VIEWER))


@pytest.mark.parametrize(
    ("act", "by", "crown", "refused"),
    [
        (Act.ACKNOWLEDGE, ANN, False, "only the crown may acknowledge it"),
        (Act.ACKNOWLEDGE, KING, True, None),
        (Act.RESOLVE, ANN, False, "only the crown may resolve it"),
        (Act.RESOLVE, KING, True, None),
        (Act.POST_RESOLVED, "eve", False, "only the crown may resolve it"),
        (Act.POST_RESOLVED, "eve", True, None),
        (Act.EXPIRE, "triad:monitor", False, "only the crown may resolve it"),
        (Act.ANSWER, "king", False, None),
    ],
)
def test_only_the_crown_ends_an_emergency_by_every_act(
    act: Act, by: Identity | str, crown: bool, refused: str | None
) -> None:
    target = ACKNOWLEDGED if act is Act.ACKNOWLEDGE else RESOLVED
    tried = attempt(act, severity=Severity.EMERGENCY, by=by, crown=crown, raised_by="eve")
    found = lifecycle.refusal(FIRING, target, tried)
    if refused is None:
        assert found is None
    else:
        assert isinstance(found, Forbidden)
        assert refused in found.message


def test_a_posted_resolution_is_its_sources_alone() -> None:
    tried = attempt(Act.POST_RESOLVED, by="mallory", raised_by="eve")
    found = lifecycle.refusal(FIRING, RESOLVED, tried)
    assert isinstance(found, Forbidden)
    assert found.message == (
        "mallory did not raise alert 7 (Fire): only its source (eve) may resolve it by posting"
    )
    own = attempt(Act.POST_RESOLVED, by="eve", raised_by="eve")
    assert lifecycle.refusal(FIRING, RESOLVED, own) is None


def test_a_second_acknowledgement_is_refused_even_while_muted() -> None:
    tried = attempt(Act.ACKNOWLEDGE, state=SILENCED, acknowledged_by="bob")
    with pytest.raises(Conflict, match="already acknowledged by bob"):
        lifecycle.enforce(SILENCED, tried)
    lifecycle.enforce(SILENCED, attempt(Act.ACKNOWLEDGE, state=SILENCED))


def _sets_state(tree: ast.AST) -> list[int]:
    """Return the lines that assign an attribute named ``state`` (alone or in a tuple)."""
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            names = target.elts if isinstance(target, ast.Tuple) else [target]
            if any(isinstance(n, ast.Attribute) and n.attr == "state" for n in names):
                found.append(node.lineno)
    return found


def test_the_scan_sees_an_offender() -> None:
    offending = "row.state = 'x'\na.silence_id, a.state = None, 'y'\nok = row.state == 'x'\n"
    assert _sets_state(ast.parse(offending)) == [1, 2]


def test_only_the_lifecycle_sets_an_alerts_state() -> None:
    """Every change of state goes through `lifecycle`, so no path skips its rules."""
    root = Path(lifecycle.__file__).parents[2]
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted((root / "ops").rglob("*.py"))
        if path != Path(lifecycle.__file__)
        for number in _sets_state(ast.parse(path.read_text()))
    ]
    assert offenders == []
