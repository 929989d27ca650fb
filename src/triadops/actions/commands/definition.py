"""A declared command made concrete: argv rendered from validated params, env resolved."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from triadops.actions.masking import Masker
from triadops.domain.chain import canonical_json
from triadops.domain.errors import ActionFailed
from triadops.domain.parameters import ParamValue, render
from triadops.settings.systems import CommandSpec

__all__ = ["Resolved", "digest", "env_names", "render_argv", "resolve_env"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}`` in a declared environment value: read from triad's environment at run time."""


def digest(spec: CommandSpec) -> str:
    """Return the sha256 of the declaration's canonical JSON: what an approver approved."""
    return hashlib.sha256(canonical_json(spec.model_dump(mode="json")).encode()).hexdigest()


def values_of(params: BaseModel) -> dict[str, ParamValue]:
    """Return a validated params model's values, as `render` takes them."""
    return dict(params.model_dump())


def render_argv(argv: list[str], params: BaseModel) -> tuple[str, ...]:
    """Put the validated params into their declared positions; each argument stays one."""
    values = values_of(params)
    return tuple(render(arg, values) for arg in argv)


def env_names(spec: CommandSpec) -> list[str]:
    """Return the names of the variables set for the process (never their values)."""
    return sorted(spec.env)


@dataclass(frozen=True, slots=True)
class Resolved:
    """The environment as the process gets it, and the values to mask wherever it shows."""

    env: Mapping[str, str]
    secrets: frozenset[str]
    """Every ``${NAME}`` value read, and the values of the declared ``secrets`` names."""

    @property
    def mask(self) -> Masker:
        """Return the masker of these secret values."""
        return Masker(self.secrets)


def resolve_env(
    name: str,
    spec: CommandSpec,
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
) -> Resolved:
    """Read every ``${NAME}`` of the declared env from `environ` (triad's environment).

    A variable that is not set fails the step, naming the variable, never a value; with
    `strict` off (a preview, which may run where the variable is not set) it reads as empty.
    """
    source = os.environ if environ is None else environ
    secrets: set[str] = set()

    def read(variable: str, where: str) -> str:
        if variable not in source:
            if not strict:
                return ""
            raise ActionFailed(
                f"{name}: environment variable {variable} is not set "
                f"(referenced by {where}); set it where triad runs"
            )
        return source[variable]

    env: dict[str, str] = {}
    for key, template in spec.env.items():

        def substitute(match: re.Match[str], key: str = key) -> str:
            value = read(match.group(1), f"env.{key}")
            secrets.add(value)
            return value

        env[key] = _REFERENCE.sub(substitute, template)
    for variable in spec.secrets:
        if variable in source:
            secrets.add(source[variable])
    return Resolved(env=env, secrets=frozenset(secrets))
