"""``command.<name>`` on declared hosts: selected, previewed per host, rolled out in batches.

The step's params are the command's own plus the host selection (`HostSelection`). The
selection is checked against what the declaration allows when the plan is drafted (the dry
run) and again when the step runs. A rollout that stops (a batch past its threshold, the
operation's failure budget reached) fails the step, after undoing it on the hosts it
changed: a failed step leaves nothing half done, as every action's failure must. A step
that ran to its end, with failures its threshold and budget tolerated, succeeds; its failed
hosts are recorded (``failed``, ``failed_hosts``) and count against the budget of the
operation's later steps.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, JsonValue

from triadops.actions.base import ActionContext, Output
from triadops.actions.commands import definition
from triadops.actions.commands.action import CommandAction
from triadops.actions.commands.invocation import Runner
from triadops.actions.commands.rollout import (
    HostOutcome,
    HostSelection,
    Rollout,
    roll_back,
    rollout,
    run_on_host,
    select_hosts,
)
from triadops.actions.commands.ssh import (
    HostKeyRejected,
    HostUnreachable,
    SshRunner,
    remote_command,
)
from triadops.domain.chain import canonical_json
from triadops.domain.errors import ActionFailed, InvalidRequest
from triadops.domain.operations import StepPreview
from triadops.settings.systems import HostSpec

__all__ = ["RemoteCommandAction", "RunnerFor"]

RunnerFor = Callable[[str, HostSpec], Runner]
"""Builds the runner of one host (by name); the default is an `SshRunner`."""
_KEY_CHECKS = 16
"""Hosts whose keys are checked at once before a rollout starts."""


class RemoteCommandAction(CommandAction):
    """Run a declared command on declared hosts over SSH, in batches with a threshold."""

    inventory: ClassVar[Mapping[str, HostSpec]]
    """The hosts this command may run on (by name or by an allowed tag), from the inventory."""
    every_host: ClassVar[Mapping[str, HostSpec]]
    """The whole inventory: a selection naming a host outside `inventory` is told why."""
    known_hosts: ClassVar[Path]

    def __init__(self, runner_for: RunnerFor | None = None) -> None:
        super().__init__()
        self.runner_for: RunnerFor = runner_for or self._ssh

    def _ssh(self, name: str, host: HostSpec) -> Runner:
        return SshRunner(host, known_hosts=self.known_hosts, name=name)

    def definition(self) -> str | None:
        """Return the digest of the declaration and of every host entry it may reach.

        An approver approves which addresses, ports, users and keys run the command: a host
        entry changed (or a host given an allowed tag) since approval refuses the step.
        """
        pinned = {
            "command": self.spec.model_dump(mode="json"),
            "hosts": {name: spec.model_dump(mode="json") for name, spec in self.inventory.items()},
            "known_hosts": str(self.known_hosts),
        }
        return hashlib.sha256(canonical_json(pinned).encode()).hexdigest()

    def selection(self, params: BaseModel) -> tuple[HostSelection, list[str]]:
        """Return the step's host selection and its hosts in order, or refuse naming the field."""
        chosen = HostSelection.model_validate(
            {name: getattr(params, name) for name in HostSelection.model_fields}
        )
        hosts = select_hosts(
            self.every_host,
            allowed_names=self.spec.hosts,
            allowed_tags=self.spec.host_tags,
            names=chosen.hosts,
            tags=chosen.tags,
        )
        if not hosts:
            raise InvalidRequest("hosts: the selection names no host", field="hosts")
        return chosen, hosts

    async def preview(self, ctx: ActionContext, params: BaseModel) -> StepPreview:
        """Show each host in batch order with the exact remote command line, and the bounds."""
        chosen, hosts = self.selection(params)
        spec = self.spec
        mask = definition.resolve_env(self.name, spec, strict=False).mask
        line = mask(remote_command(definition.render_argv(spec.argv, params)))
        size = chosen.batch_size
        batches = [hosts[i : i + size] for i in range(0, len(hosts), size)]
        parts = [
            f"on {len(hosts)} host(s) in batches of {size}: "
            + " | ".join(", ".join(batch) for batch in batches),
            f"a batch stops the rollout when more than {chosen.max_fail_percent:g}% of it fails",
        ]
        if chosen.failure_budget is not None:
            parts.append(
                f"the operation stops once {chosen.failure_budget} host(s) failed across its steps"
            )
        if spec.env:
            parts.append(f"env {', '.join(definition.env_names(spec))} (values not shown)")
        codes = ", ".join(str(code) for code in spec.success_codes)
        parts.append(f"timeout {spec.timeout_s:g} s a host, success on exit {codes}")
        if spec.rollback_argv is not None:
            undo = mask(remote_command(definition.render_argv(spec.rollback_argv, params)))
            parts.append(f"rollback on the hosts that changed: {undo}")
        else:
            parts.append("no rollback")
        lines = [f"{name} ({_where(self.inventory[name])}): {line}" for name in hosts]
        return StepPreview(
            summary="; ".join(parts) + "\n" + "\n".join(lines),
            touches=hosts,
            amounts={
                "hosts": len(hosts),
                "batch_size": size,
                "max_fail_percent": chosen.max_fail_percent,
                "timeout_s": spec.timeout_s,
            },
        )

    async def run(self, ctx: ActionContext, params: BaseModel) -> Output:
        """Roll the command over the selected hosts; on a stop, undo where it changed, fail."""
        chosen, hosts = self.selection(params)
        invocation = self.invocation(self.spec.argv, params)
        await self._keys_known(hosts)
        budget = chosen.failure_budget
        left = None if budget is None else budget - ctx.failed_hosts

        command = remote_command(tuple(invocation.mask(a) for a in invocation.argv))
        started: list[str] = []
        finished: dict[str, HostOutcome] = {}

        async def run_one(host: str) -> HostOutcome:
            started.append(host)
            runner = self.runner_for(host, self.inventory[host])
            return await run_on_host(
                host, runner, invocation, success_codes=self.spec.success_codes
            )

        async def note(outcome: HostOutcome) -> None:
            finished[outcome.host] = outcome

        try:
            done = await rollout(
                hosts,
                batch_size=chosen.batch_size,
                max_fail_percent=chosen.max_fail_percent,
                failure_budget=left,
                run_one=run_one,
                on_outcome=note,
            )
        except asyncio.CancelledError:
            # Cut short (a cancel, the step's timeout): the runners killed what ran. Undo
            # where it changed or may have (killed midway), and leave that to be recorded.
            touched = [h for h in started if h not in finished or finished[h].changed]
            cut = Rollout(tuple(finished.values()), "interrupted", ())
            ctx.interrupted.update(_output(cut, command))
            ctx.interrupted["interrupted"] = [h for h in started if h not in finished]
            if self.spec.reversible and touched:
                undone = await asyncio.shield(self._undo(params, touched))
                ctx.interrupted["undo"] = undone.as_output()
            raise
        output = _output(done, command)
        if done.stopped is None:
            return output
        why = f"{self.name} stopped: {done.stopped}; failed on {', '.join(done.failed()) or '-'}"
        if done.skipped:
            why += f"; not started on {', '.join(done.skipped)}"
        if budget is not None and ctx.failed_hosts:
            why += f" ({ctx.failed_hosts} host(s) had failed in earlier steps)"
        if self.spec.reversible and done.changed():
            undone = await self._undo(params, done.changed())
            output["undo"] = undone.as_output()
            if undone.failed():
                why += f"; its undo failed on {', '.join(undone.failed())}"
            else:
                why += f"; undone on {', '.join(undone.changed())}"
        raise ActionFailed(why, output=output)

    async def _keys_known(self, hosts: list[str]) -> None:
        """Refuse the step, running nothing anywhere, when a selected host's key is not known.

        Each host's key is checked again when its batch connects; this first pass makes a
        changed key stop the rollout before its first batch rather than in the middle. An
        unreachable host is left to its batch, where it counts as a failure.
        """
        gate = asyncio.Semaphore(_KEY_CHECKS)

        async def check(name: str) -> str | None:
            runner = self.runner_for(name, self.inventory[name])
            if not isinstance(runner, SshRunner):
                return None
            async with gate:
                try:
                    conn = await runner.connect()
                except HostKeyRejected as exc:
                    return exc.message
                except HostUnreachable:
                    return None
                conn.close()
                await conn.wait_closed()
            return None

        refused = [found for found in await asyncio.gather(*map(check, hosts)) if found]
        if refused:
            raise ActionFailed(
                f"{self.name} refused before any host ran: {'; '.join(refused)}",
                output={"refused": refused, "failed_hosts": 0},
            )

    async def rollback(self, ctx: ActionContext, params: BaseModel, output: Output) -> Output:
        """Run rollback_argv on the hosts the step changed (from its output), and only there."""
        if self.spec.rollback_argv is None:
            return {"undone": False, "reason": f"{self.name} has nothing to undo"}
        changed = output.get("changed")
        hosts = [h for h in changed if isinstance(h, str)] if isinstance(changed, list) else []
        if not hosts:
            return {"undone": False, "reason": "no host changed"}
        undone = await self._undo(params, hosts)
        result: Output = {"undone": True, **undone.as_output()}
        if undone.failed():
            raise ActionFailed(
                f"rollback of {self.name} failed on {', '.join(undone.failed())}", output=result
            )
        return result

    async def _undo(self, params: BaseModel, hosts: list[str]) -> Rollout:
        """Run rollback_argv on `hosts` (a reversible command declares one), all at once."""
        assert self.spec.rollback_argv is not None
        invocation = self.invocation(self.spec.rollback_argv, params)
        codes = self.spec.success_codes

        async def undo_one(host: str) -> HostOutcome:
            spec = self.inventory.get(host)
            if spec is None:
                raise ActionFailed(f"host {host}: no longer in the inventory; not undone")
            return await run_on_host(
                host, self.runner_for(host, spec), invocation, success_codes=codes
            )

        return await roll_back(hosts, undo_one)


def _where(host: HostSpec) -> str:
    return f"{host.user}@{host.address}:{host.port}"


def _output(done: Rollout, command: str) -> Output:
    recorded: dict[str, JsonValue] = {
        **done.as_output(),
        "failed_hosts": len(done.failed()),
        "remote_command": command,
    }
    return recorded
