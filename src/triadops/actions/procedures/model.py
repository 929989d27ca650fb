"""A procedure as its file declares it: steps, parameters, authority, risk and criteria.

A step's param value that is exactly ``"{name}"`` refers to the procedure's parameter
``name``; it is replaced by the submitted value with its type kept (``"{replicas}"``
becomes ``3``, not ``"3"``). Only a whole string is a reference: no text is built from a
value, so a value can never reach another key or position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
)

from triadops.domain.enums import Authority, OperationType, Risk
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import StepSpec, Text
from triadops.domain.parameters import PLACEHOLDER, ParamName, ParamSpec, ParamValue

__all__ = [
    "DEFAULT_CRITERIA",
    "Procedure",
    "ProcedureStep",
    "references",
    "render_value",
]

DEFAULT_CRITERIA = [
    "system_functionality_maintained",
    "performance_within_baseline",
    "no_data_loss",
    "constitutional_compliance_verified",
]
"""The criteria a request without its own measures (the built-in optimisation's)."""

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""A procedure's name: its file's stem, at most 100 characters (a request's ``procedure``)."""


def _listed(value: object) -> object:
    """Accept one authority as a list of one."""
    return [value] if isinstance(value, str) else value


class ProcedureStep(BaseModel):
    """One step: a registered action and its params, values or ``"{param}"`` references."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    action: Text = Field(min_length=1, max_length=100)
    """A registered action, such as ``command.deploy`` or ``database.vacuum_analyze``."""
    params: dict[str, JsonValue] = Field(default_factory=dict)
    """The action's params; a value ``"{name}"`` is the procedure's parameter ``name``."""


class Procedure(BaseModel):
    """A named, reviewed recipe of steps that a request asks for by name."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=NAME)]
    """The procedure's name; it must be the file's stem."""
    description: Text = Field(min_length=1, max_length=2000)
    operation_type: OperationType
    """The type a request for it must have."""
    constitutional_authority: Annotated[
        list[Authority], BeforeValidator(_listed), Field(min_length=1)
    ]
    """The authority a request for it must invoke: one, or a list of those allowed."""
    risk: Risk
    """The procedure's risk: at least its riskiest step's; the review never scores it lower."""
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict, max_length=64)
    """What a request may (or must) set, each declared and typed."""
    steps: list[ProcedureStep] = Field(min_length=1, max_length=100)
    rollback_plan: Text = Field(min_length=1, max_length=2000)
    affected_systems: list[Annotated[Text, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    validation_criteria: list[Annotated[Text, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=50
    )
    """Registered checks the judiciary measures before and after."""
    expected_duration_s: float | None = Field(default=None, gt=0, le=7 * 86400)
    """How long it usually takes, shown to approvers; with no completed run of it yet, the
    slot a request that needs a window is given lasts at least this long."""
    window: Text | None = Field(default=None, min_length=1, max_length=100)
    """The maintenance window a request for it needs (``any`` or a window's name) when the
    request names none; left out, it runs when asked."""

    def digest(self) -> str:
        """Return the sha256 of the declaration's canonical JSON (where it lies excluded).

        A declaration without ``window`` hashes as it did before the key existed.
        """
        unset = {"window"} if self.window is None else set()
        canonical = json.dumps(
            self.model_dump(mode="json", exclude=unset),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def arguments(self, given: dict[str, JsonValue]) -> dict[str, ParamValue]:
        """Check a request's ``procedure_params``; return every parameter's value.

        Errors name ``procedure_params.<key>``: an undeclared key, a missing required one,
        a value off its declaration.
        """
        for key in given:
            if key not in self.params:
                known = ", ".join(sorted(self.params)) or "none"
                raise InvalidRequest(
                    f"procedure_params.{key}: {self.name} declares no parameter {key!r} "
                    f"(declared: {known})",
                    field=f"procedure_params.{key}",
                )
        values: dict[str, ParamValue] = {}
        for key, spec in self.params.items():
            if key not in given:
                if spec.default is None:
                    raise InvalidRequest(
                        f"procedure_params.{key}: required by {self.name} ({spec.type})",
                        field=f"procedure_params.{key}",
                    )
                values[key] = spec.default
                continue
            try:
                values[key] = spec.check(given[key])
            except ValueError as exc:
                raise InvalidRequest(
                    f"procedure_params.{key}: {exc}", field=f"procedure_params.{key}"
                ) from None
        return values

    def rendered(self, values: dict[str, ParamValue]) -> list[StepSpec]:
        """Return the steps with each reference replaced by its value, type kept."""
        return [
            StepSpec(action=step.action, params=render_value(step.params, values))
            for step in self.steps
        ]


def render_value(value: JsonValue, values: dict[str, ParamValue]) -> JsonValue:
    """Return `value` with every whole ``"{name}"`` string replaced by its value."""
    if isinstance(value, str):
        found = PLACEHOLDER.fullmatch(value)
        return values[found.group(1)] if found else value
    if isinstance(value, dict):
        return {key: render_value(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, values) for item in value]
    return value


def references(value: JsonValue, path: str) -> Iterator[tuple[str, str, bool]]:
    """Yield ``(path, name, whole)`` for each ``{name}`` in a step's param values.

    `whole` is False for a placeholder inside longer text, which is not a reference.
    """
    if isinstance(value, str):
        found = PLACEHOLDER.fullmatch(value)
        if found:
            yield path, found.group(1), True
        else:
            for name in PLACEHOLDER.findall(value):
                yield path, name, False
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{path}[{index}]")
