"""Declared parameters: the typed values a request may set on a configured command or call.

What may run is declared by whoever controls the server's configuration; a request only fills
in the parameters the declaration names, each checked against its type, pattern, range and
choices before anything is stored. Patterns run on RE2 (linear time), so a value cannot make
the server's check take exponential time.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
    model_validator,
)

from triadops.domain.alerts import Pattern, compile_regex

__all__ = [
    "PLACEHOLDER",
    "ParamSpec",
    "ParamValue",
    "params_model",
    "placeholders",
    "render",
]

ParamValue = str | int | float | bool
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")
"""``{name}`` inside a declared argument, URL path or body string."""
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Pattern:
    """Compile once per pattern, quietly: RE2 logs nothing to stderr for a refused one."""
    return compile_regex(pattern)


def _compiles(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            _compiled(pattern)
        except ValueError as exc:
            why = str(exc).removeprefix("value is not a regular expression RE2 accepts: ")
            raise ValueError(f"pattern {pattern!r} is not a valid RE2 expression: {why}") from None
    return pattern


class ParamSpec(BaseModel):
    """One parameter a request may set: its type and the values it may take."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: Literal["str", "int", "float", "bool"] = "str"
    """The value's type; no coercion: ``"3"`` is not an int."""
    description: str = ""
    """What the parameter controls, shown in ``triad procedures show`` and to agents."""
    pattern: Annotated[str | None, AfterValidator(_compiles)] = None
    """An RE2 expression a ``str`` value must match in full."""
    min: float | None = None
    """The smallest ``int`` or ``float`` value allowed."""
    max: float | None = None
    """The largest ``int`` or ``float`` value allowed."""
    choices: list[ParamValue] | None = Field(default=None, min_length=1)
    """The only values allowed, when set."""
    max_length: int = Field(default=256, ge=1, le=4096)
    """The longest ``str`` value allowed."""
    default: ParamValue | None = None
    """The value when a request leaves the parameter out; none makes it required."""

    @model_validator(mode="after")
    def _fits_its_type(self) -> ParamSpec:
        if self.type in ("str", "bool") and (self.min is not None or self.max is not None):
            raise ValueError(f"min and max apply to int and float parameters, not {self.type}")
        if self.type != "str" and self.pattern is not None:
            raise ValueError(f"pattern applies to str parameters, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if self.default is not None:
            self.check(self.default)
        return self

    def check(self, value: Any) -> ParamValue:
        """Return `value` when it fits this declaration; raise ValueError saying why not."""
        match self.type:
            case "bool":
                if not isinstance(value, bool):
                    raise ValueError(f"expected a bool, got {type(value).__name__}")
            case "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"expected an int, got {type(value).__name__}")
            case "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"expected a number, got {type(value).__name__}")
            case "str":
                if not isinstance(value, str):
                    raise ValueError(f"expected a string, got {type(value).__name__}")
                if len(value) > self.max_length:
                    raise ValueError(f"longer than {self.max_length} characters")
                if "\x00" in value:
                    raise ValueError("NUL characters are not allowed")
                if self.pattern is not None and _compiled(self.pattern).fullmatch(value) is None:
                    raise ValueError(f"does not match the pattern {self.pattern!r}")
        if self.min is not None and value < self.min:
            raise ValueError(f"below the minimum {self.min:g}")
        if self.max is not None and value > self.max:
            raise ValueError(f"above the maximum {self.max:g}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"not one of {self.choices}")
        return value  # type: ignore[no-any-return]


def _strict(spec: ParamSpec) -> Any:
    base: Any = {"str": str, "int": StrictInt, "float": float, "bool": StrictBool}[spec.type]
    return Annotated[base, BeforeValidator(spec.check), Field(description=spec.description)]


def params_model(
    name: str, specs: dict[str, ParamSpec], *, extra: dict[str, Any] | None = None
) -> type[BaseModel]:
    """Return a pydantic model that accepts exactly the declared parameters of `name`.

    Unknown keys are refused (``extra="forbid"``), so a request cannot reach a position the
    declaration does not name. `extra` adds fixed fields (such as a step's host selection).
    """
    fields: dict[str, Any] = {}
    for key, spec in specs.items():
        default = ... if spec.default is None else spec.default
        fields[key] = (_strict(spec), default)
    title = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name)) + "Params"
    model: type[BaseModel] = create_model(
        title,
        __config__=ConfigDict(extra="forbid", frozen=True),
        **fields,
        **(extra or {}),
    )
    return model


def placeholders(text: str) -> set[str]:
    """Return the parameter names ``{name}`` placeholders in `text` refer to."""
    return set(PLACEHOLDER.findall(text))


def render(template: str, values: dict[str, ParamValue]) -> str:
    """Replace each ``{name}`` in `template` with its value, in one pass.

    The result stays one string: an argument stays one argument, whatever the value holds,
    and a value's own braces are never read as placeholders.
    """

    def value(match: re.Match[str]) -> str:
        found = values[match.group(1)]
        return str(found).lower() if isinstance(found, bool) else str(found)

    return PLACEHOLDER.sub(value, template)


ParamName = Annotated[str, Field(pattern=NAME)]
"""A parameter's name: an identifier, so it reads the same in TOML, YAML and argv."""
