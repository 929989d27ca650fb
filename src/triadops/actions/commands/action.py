"""``command.<name>``: a command declared in configuration, run as an argument list."""

from __future__ import annotations

import types
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands import definition
from triadops.actions.commands.invocation import Completed, Invocation, Runner
from triadops.actions.commands.local import KILL_GRACE_S, LocalRunner
from triadops.actions.masking import Masker
from triadops.domain.errors import ActionFailed
from triadops.domain.operations import StepPreview
from triadops.domain.parameters import params_model
from triadops.settings.systems import CommandSpec

__all__ = [
    "ERROR_TAIL",
    "PREFIX",
    "TIMEOUT_MARGIN_S",
    "CommandAction",
    "command_action",
    "command_class",
]

A = TypeVar("A", bound="CommandAction")
PREFIX = "command."
ERROR_TAIL = 2000
"""Characters of the end of stdout and of stderr quoted in a failed step's error, which the
ledger keeps; the step's output keeps all that was captured, within the output bound."""
TIMEOUT_MARGIN_S = 5.0
"""Seconds the step's timeout leaves past the runner's own timeout and kill."""


class CommandAction(Action[BaseModel]):
    """Run a declared argument list: parameters only in their declared positions.

    One subclass per declared command (`command_action`), so the declared risk,
    reversibility, idempotency and timeout are the class's attributes, as for every action.
    Interruptible: a cancel kills the process group.
    """

    command: ClassVar[str]
    spec: ClassVar[CommandSpec]
    interruptible: ClassVar[bool] = True

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or LocalRunner()

    def definition(self) -> str | None:
        """Return the digest of the declaration: a plan pins it at review."""
        return definition.digest(self.spec)

    def invocation(self, argv: list[str], params: BaseModel) -> Invocation:
        """Build what the runner starts: argv rendered, env resolved, masking armed."""
        resolved = definition.resolve_env(self.name, self.spec)
        return Invocation(
            argv=definition.render_argv(argv, params),
            env=resolved.env,
            cwd=str(self.spec.cwd) if self.spec.cwd is not None else None,
            timeout_s=self.spec.timeout_s,
            output_limit=self.spec.output_limit_bytes,
            mask=resolved.mask,
        )

    async def preview(self, ctx: ActionContext, params: BaseModel) -> StepPreview:
        """Show the exact argv, cwd, env names, timeout, success codes and rollback argv."""
        spec = self.spec
        mask = definition.resolve_env(self.name, spec, strict=False).mask
        argv = _shown(definition.render_argv(spec.argv, params), mask)
        parts = [f"run {argv}"]
        if spec.cwd is not None:
            parts.append(f"in {spec.cwd}")
        if spec.env:
            parts.append(f"with env {', '.join(definition.env_names(spec))} (values not shown)")
        codes = ", ".join(str(code) for code in spec.success_codes)
        parts.append(f"timeout {spec.timeout_s:g} s, success on exit {codes}")
        if spec.rollback_argv is not None:
            undo = _shown(definition.render_argv(spec.rollback_argv, params), mask)
            parts.append(f"rollback {undo}")
        else:
            parts.append("no rollback")
        return StepPreview(
            summary="; ".join(parts),
            touches=[str(spec.cwd)] if spec.cwd is not None else [],
            amounts={"timeout_s": spec.timeout_s},
        )

    async def run(self, ctx: ActionContext, params: BaseModel) -> Output:
        """Run argv; fail on an exit code outside success_codes or on the timeout."""
        return await self._execute(self.spec.argv, params, what="")

    async def rollback(self, ctx: ActionContext, params: BaseModel, output: Output) -> Output:
        """Run rollback_argv with the same params; nothing to undo without one."""
        if self.spec.rollback_argv is None:
            return await super().rollback(ctx, params, output)
        done = await self._execute(self.spec.rollback_argv, params, what="rollback ")
        return {"undone": True, **done}

    async def probe(self, ctx: ActionContext, params: BaseModel) -> bool | None:
        """Cannot tell whether an interrupted command took effect."""
        return None

    async def _execute(self, argv: list[str], params: BaseModel, *, what: str) -> Output:
        invocation = self.invocation(argv, params)
        done = await self.runner.run(invocation)
        shown = _shown(invocation.argv, invocation.mask)
        output: Output = {**done.as_output(), "argv": [invocation.mask(a) for a in invocation.argv]}
        if done.timed_out:
            raise ActionFailed(
                f"{what}{self.name} timed out after {self.spec.timeout_s:g} s "
                f"(its process group was killed): {shown}{_tails(done)}",
                output=output,
            )
        if done.exit_code not in self.spec.success_codes:
            raise ActionFailed(
                f"{what}{self.name} exited with {done.exit_code} (success: "
                f"{', '.join(str(c) for c in self.spec.success_codes)}): {shown}{_tails(done)}",
                output=output,
            )
        return output


def _shown(argv: tuple[str, ...], mask: Masker) -> str:
    return mask(repr(list(argv)))


def _tails(done: Completed) -> str:
    """Quote the end of each stream (already bounded and masked by the runner)."""
    parts = []
    for label, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        if text.strip():
            cut = "…" if len(text) > ERROR_TAIL else ""
            parts.append(f"; {label}: {cut}{text[-ERROR_TAIL:].strip()}")
    return "".join(parts)


def command_class(
    name: str,
    spec: CommandSpec,
    *,
    base: type[A],
    traits: dict[str, Any] | None = None,
    selection: dict[str, Any] | None = None,
) -> type[A]:
    """Return the class of the declared command `name` (registered as ``command.<name>``).

    `traits` and `selection` shape a command on hosts (`remote.py`): its inventory and
    bound, and the host selection fields its params take besides the declared ones.
    """
    full = PREFIX + name
    attributes: dict[str, Any] = {
        "name": full,
        "command": name,
        "spec": spec,
        "description": spec.description,
        "params_model": params_model(full, dict(spec.params), extra=selection),
        "risk": spec.risk,
        "reversible": spec.reversible,
        "idempotent": spec.idempotent,
        # The runner's own timeout and kill answer first, with the output so far.
        "timeout_s": spec.timeout_s + KILL_GRACE_S + TIMEOUT_MARGIN_S,
        "__doc__": f"Run the declared command {name!r}.",
        **(traits or {}),
    }
    made: type[A] = types.new_class(
        f"{base.__name__}[{name}]", (base,), exec_body=lambda ns: ns.update(attributes)
    )
    return made


def command_action(name: str, spec: CommandSpec, runner: Runner | None = None) -> CommandAction:
    """Return the action for the declared command `name`, run on this machine."""
    return command_class(name, spec, base=CommandAction)(runner)
