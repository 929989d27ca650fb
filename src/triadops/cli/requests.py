"""Turn the command line into an OperationRequest: flags, --step/--params pairs, or --file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from pydantic import JsonValue, TypeAdapter, ValidationError
from typer.core import TyperCommand

from triadops.cli.clicktypes import Context as ClickContext
from triadops.cli.context import BadInput, describe_validation
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest, StepSpec
from triadops.domain.parameters import ParamSpec

_RAW_ARGS = "triad.raw_args"
FLAGS = {
    "operation_id": "--id",
    "operation_type": "--type",
    "constitutional_authority": "--authority",
    "description": "--description",
    "scheduled_time": "--scheduled-time",
    "affected_systems": "--system",
    "rollback_plan": "--rollback-plan",
    "validation_criteria": "--criterion",
    "procedure": "--procedure",
    "procedure_params": "--param",
    "steps": "--step",
    "window": "--window",
}
_STEPS = TypeAdapter(list[StepSpec])

Steps = Annotated[
    list[str] | None,
    typer.Option("--step", metavar="ACTION", help="A registered action; repeat for more steps."),
]
Params = Annotated[
    list[str] | None,
    typer.Option("--params", metavar="JSON", help="Parameters of the --step written before it."),
]


class StepCommand(TyperCommand):
    """A command that keeps its raw arguments, so each --params can find its --step."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        """Remember the arguments as given, then parse them as usual."""
        ctx.meta[_RAW_ARGS] = list(args)
        return super().parse_args(ctx, args)


def parse_json(text: str, *, what: str) -> JsonValue:
    """Parse JSON text; a syntax error is BadInput saying which input and where."""
    try:
        value: JsonValue = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    return value


def _params_owners(ctx: ClickContext, count: int) -> list[int]:
    """Return, for each --params in order, the index of the --step it follows (-1: none)."""
    raw: list[str] | None = ctx.meta.get(_RAW_ARGS)
    if raw is None:  # invoked without parsing (a test calling the function): pair in order
        return list(range(count))
    takes_value = {
        name
        for param in ctx.command.params
        if not getattr(param, "is_flag", True) and not getattr(param, "count", False)
        for name in param.opts
    }
    owners: list[int] = []
    steps_seen = 0
    tokens = iter(raw)
    for token in tokens:
        if token == "--":
            break
        name, has_value, _ = token.partition("=")
        if name == "--step":
            steps_seen += 1
        elif name == "--params":
            owners.append(steps_seen - 1)
        if name in takes_value and not has_value:
            next(tokens, None)
    return owners


def step_specs(
    ctx: ClickContext, actions: list[str], params: list[str]
) -> list[dict[str, JsonValue]]:
    """Pair each --params with the --step written before it; parse each as JSON."""
    specs: list[dict[str, JsonValue]] = [{"action": action} for action in actions]
    for number, (owner, text) in enumerate(
        zip(_params_owners(ctx, len(params)), params, strict=True), start=1
    ):
        if owner < 0 or owner >= len(specs):
            raise BadInput(f"--params #{number} does not follow a --step")
        if "params" in specs[owner]:
            raise BadInput(
                f"--params #{number}: --step {specs[owner]['action']} already has --params"
            )
        specs[owner]["params"] = parse_json(
            text, what=f"--params #{number} (for --step {specs[owner]['action']})"
        )
    return specs


def validated_steps(specs: list[dict[str, JsonValue]]) -> list[StepSpec]:
    """Validate step specs on their own (for amend); errors name ``steps.N.field``."""
    try:
        return _STEPS.validate_python(specs)
    except ValidationError as exc:
        raise BadInput(describe_validation(exc, prefix="steps.")) from None


@dataclass
class RequestFlags:
    """The request fields as given on the command line (None: not given)."""

    operation_type: str | None = None
    authority: str | None = None
    description: str | None = None
    operation_id: str | None = None
    scheduled_time: str | None = None
    emergency: bool = False
    systems: list[str] = field(default_factory=list)
    rollback_plan: str | None = None
    criteria: list[str] = field(default_factory=list)
    procedure: str | None = None
    procedure_params: dict[str, JsonValue] = field(default_factory=dict)
    steps: list[dict[str, JsonValue]] = field(default_factory=list)
    window: str | None = None

    def given(self) -> list[str]:
        """Return the flags that were set, by name."""
        values = {
            "--type": self.operation_type,
            "--authority": self.authority,
            "--description": self.description,
            "--id": self.operation_id,
            "--scheduled-time": self.scheduled_time,
            "--emergency": self.emergency or None,
            "--system": self.systems or None,
            "--rollback-plan": self.rollback_plan,
            "--criterion": self.criteria or None,
            "--procedure": self.procedure,
            "--param": self.procedure_params or None,
            "--step": self.steps or None,
            "--window": self.window,
        }
        return [flag for flag, value in values.items() if value is not None]


def procedure_params(given: list[str], declared: dict[str, ParamSpec]) -> dict[str, JsonValue]:
    """Parse ``--param key=value`` flags: JSON when it parses, else the text.

    A parameter the procedure declares as ``str`` takes the text as is (``--param tag=1.2``
    is the string ``"1.2"``); the declaration checks every value when the request is reviewed.
    """
    values: dict[str, JsonValue] = {}
    for number, text in enumerate(given, start=1):
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise BadInput(f"--param #{number}: {text!r} is not KEY=VALUE")
        if key in values:
            raise BadInput(f"--param #{number}: {key} is given twice")
        spec = declared.get(key)
        if spec is not None and spec.type == "str":
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def default_description(procedure: str | None, steps: list[dict[str, JsonValue]]) -> str:
    """Describe a request that came without a description by what it would do."""
    if procedure:
        return f"procedure {procedure}"
    return "steps: " + ", ".join(str(s.get("action")) for s in steps)


def _validated(fields: dict[str, object], *, prefix: str, hints: bool) -> OperationRequest:
    try:
        return OperationRequest.model_validate(fields)
    except ValidationError as exc:
        loc = exc.errors()[0]["loc"]
        message = describe_validation(exc, prefix=prefix)
        flag = _flag_for(loc) if hints else None
        if flag:
            where = ".".join(str(p) for p in loc)
            message = message.replace(f"{where}:", f"{where} ({flag}):", 1)
        raise BadInput(message) from None


def _flag_for(loc: tuple[int | str, ...]) -> str | None:
    """Name the flag behind an error location, such as ``--params of --step #2``."""
    if not loc:
        return None
    if loc[0] == "steps" and len(loc) > 1 and isinstance(loc[1], int):
        step = f"--step #{loc[1] + 1}"
        return f"--params of {step}" if len(loc) > 2 and loc[2] == "params" else step
    return FLAGS.get(str(loc[0]))


def request_from_flags(flags: RequestFlags, requester: Identity) -> OperationRequest:
    """Build the request from flags; the requester is the local identity."""
    if flags.procedure and flags.steps:
        raise BadInput("give either --procedure or --step, not both")
    if not flags.procedure and not flags.steps and not flags.description:
        raise BadInput(
            "give --procedure NAME, --step ACTION or --file request.json "
            "(or only --description, for a planner agent to draft the steps)"
        )
    fields: dict[str, object] = {
        "operation_type": flags.operation_type or "maintenance",
        "constitutional_authority": flags.authority or "executive",
        "description": flags.description or default_description(flags.procedure, flags.steps),
        "requested_by": requester.name,
        "emergency_priority": flags.emergency,
        "affected_systems": flags.systems,
        "rollback_plan": flags.rollback_plan,
        "validation_criteria": flags.criteria,
        "procedure": flags.procedure,
        "procedure_params": flags.procedure_params,
        "steps": flags.steps,
    }
    if flags.operation_id is not None:
        fields["operation_id"] = flags.operation_id
    if flags.scheduled_time is not None:
        fields["scheduled_time"] = flags.scheduled_time
    if flags.window is not None:
        fields["window"] = flags.window
    return _validated(fields, prefix="", hints=True)


def request_from_file(path: Path, requester: Identity) -> OperationRequest:
    """Read a JSON request; `requested_by` and `description` default as with flags."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"--file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"--file {path}: cannot read it: {exc}") from None
    data = parse_json(text, what=f"--file {path}")
    if not isinstance(data, dict):
        raise BadInput(f"{path.name}: a request must be a JSON object")
    fields: dict[str, object] = {"requested_by": requester.name, **data}
    if "description" not in fields:
        steps = data.get("steps")
        listed = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
        procedure = data.get("procedure")
        fields["description"] = default_description(
            procedure if isinstance(procedure, str) else None, listed
        )
    return _validated(fields, prefix=f"{path.name}: ", hints=False)
