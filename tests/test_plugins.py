"""The plugin surface is a promise to code we do not review: pin its names and signatures.

A failure here means an outside action, check or notifier may break: if the change is meant,
update the expectation and say it in CHANGELOG.md as a breaking change.
"""

from __future__ import annotations

import dataclasses
import inspect

import triadops.plugins
from triadops.actions import base as action_base
from triadops.checks import base as check_base
from triadops.ops.alerts import notifiers
from triadops.plugins import Action, ActionContext, Check, CheckContext, Notifier


def methods(cls: type) -> dict[str, list[str]]:
    """Each public method or property defined on the class: its parameter names, in order."""
    out: dict[str, list[str]] = {}
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, property):
            out[name] = ["property"]
        elif inspect.isfunction(member):
            out[name] = list(inspect.signature(member).parameters)
    return out


def abstract(cls: type) -> set[str]:
    return set(getattr(cls, "__abstractmethods__", set()))


def test_the_surface_is_exactly_these_names() -> None:
    assert triadops.plugins.__all__ == [
        "Action",
        "ActionContext",
        "Check",
        "CheckContext",
        "Notifier",
    ]
    assert {name: getattr(triadops.plugins, name) for name in triadops.plugins.__all__} == {
        "Action": action_base.Action,
        "ActionContext": action_base.ActionContext,
        "Check": check_base.Check,
        "CheckContext": check_base.CheckContext,
        "Notifier": notifiers.Notifier,
    }


def test_each_home_module_exports_its_plugin_names() -> None:
    assert {"Action", "ActionContext", "Output"} <= set(action_base.__all__)
    assert {"Check", "CheckContext", "Measurement"} <= set(check_base.__all__)
    assert "Notifier" in notifiers.__all__
    for module in (action_base, check_base, notifiers):
        assert all(hasattr(module, name) for name in module.__all__), module.__name__


def test_action_signatures() -> None:
    assert methods(Action) == {
        "preview": ["self", "ctx", "params"],
        "run": ["self", "ctx", "params"],
        "rollback": ["self", "ctx", "params", "output"],
        "definition": ["self"],
        "probe": ["self", "ctx", "params"],
        "parse": ["self", "params"],
    }
    assert abstract(Action) == {"preview", "run"}
    assert set(Action.__annotations__) == {
        "name",
        "description",
        "params_model",
        "risk",
        "reversible",
        "idempotent",
        "timeout_s",
        "interruptible",
    }
    assert (Action.timeout_s, Action.interruptible) == (300.0, False)


def test_action_context_fields() -> None:
    assert [f.name for f in dataclasses.fields(ActionContext)] == [
        "settings",
        "databases",
        "operation_id",
        "step_index",
        "idempotency_key",
        "log",
        "stop",
        "failed_hosts",
        "interrupted",
        "alerts",
    ]


def test_check_signatures() -> None:
    assert methods(Check) == {
        "measure": ["self", "ctx"],
        "judge": ["self", "ctx", "before", "after"],
    }
    assert abstract(Check) == {"measure", "judge"}
    assert set(Check.__annotations__) == {"name", "description"}


def test_check_context_fields_and_reading() -> None:
    assert [f.name for f in dataclasses.fields(CheckContext)] == [
        "settings",
        "databases",
        "own",
        "operation",
        "database_targets",
    ]
    assert methods(CheckContext)["reading"] == ["self"]


def test_notifier_signatures() -> None:
    assert methods(Notifier) == {
        "__init__": ["self", "name"],
        "timeout_s": ["property"],
        "send": ["self", "payload"],
    }
    assert abstract(Notifier) == {"timeout_s", "send"}
    assert set(Notifier.__annotations__) == {"kind"}
