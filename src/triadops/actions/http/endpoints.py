"""``http.<name>``: a configured HTTP call, with declared parameters, checks and an undo.

Only endpoints declared in ``http_endpoints`` exist. A request fills in declared parameters,
which go into the URL's path and query (percent-encoded) and the JSON body, never the host:
the host is checked at load (loopback or ``http_allowed_hosts``) and again on every rendered
URL. Header values may read the environment (``${NAME}``); those values are secrets, masked
in the preview, the output, errors and logs. Retries happen only for idempotent methods.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, cast

from pydantic import BaseModel

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.http.sending import (
    IDEMPOTENT_METHODS,
    Answer,
    Prepared,
    budget_s,
    describe,
    prepare,
    send,
)
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed
from triadops.domain.http_templates import Origin, parse_url, render_url
from triadops.domain.operations import StepPreview
from triadops.domain.parameters import ParamValue, params_model
from triadops.settings import Settings
from triadops.settings.systems import HttpCallSpec, HttpEndpointSpec

__all__ = ["HttpAction", "http_action", "http_actions"]

ERROR_BODY_CHARS = 1024
"""Characters of an unexpected answer quoted in the step's error."""


def _values(params: BaseModel) -> dict[str, ParamValue]:
    return cast(dict[str, ParamValue], params.model_dump())


def _unexpected(where: str, prepared: Prepared, answer: Answer, expect: str) -> ActionFailed:
    excerpt = answer.body[:ERROR_BODY_CHARS]
    cut = " [truncated]" if answer.truncated or len(answer.body) > ERROR_BODY_CHARS else ""
    return ActionFailed(
        f"{where}: {prepared.method} {prepared.url} answered {answer.status}, expected "
        f"{expect}: {excerpt}{cut}"
    )


class HttpAction(Action[BaseModel]):
    """Call one configured endpoint; each endpoint is a subclass made by `http_action`."""

    spec: ClassVar[HttpEndpointSpec]
    origin: ClassVar[Origin]
    undo: ClassVar[HttpCallSpec | None]
    """The rollback call, its headers merged over the endpoint's."""
    rollback_origin: ClassVar[Origin | None]
    interruptible: ClassVar[bool] = True
    """A cancel drops the request: the client closes its connection as the task unwinds."""

    def _retry_note(self) -> str:
        if self.spec.method not in IDEMPOTENT_METHODS:
            return f"sent once ({self.spec.method} is never retried)"
        return f"up to {self.spec.retries} retries on a connection error or 5xx"

    async def preview(self, ctx: ActionContext, params: BaseModel) -> StepPreview:
        """Show the request: method, URL, headers (environment values masked), body, undo."""
        values = _values(params)
        expect = ", ".join(str(s) for s in self.spec.expect_status)
        summary = [describe(self.spec, values, self.origin, self.name)]
        summary.append(f"expects {expect}; {self._retry_note()}")
        if self.undo is not None and self.rollback_origin is not None:
            undo = describe(self.undo, values, self.rollback_origin, self.name)
            summary.append(f"rollback: {undo}")
        else:
            summary.append("no rollback call")
        touched = render_url(self.spec.url, values)
        return StepPreview(summary="; ".join(summary), touches=[touched])

    async def run(self, ctx: ActionContext, params: BaseModel) -> Output:
        """Send the call; fail the step on no answer or an unexpected status."""
        prepared = prepare(
            self.spec, _values(params), origin=self.origin, environ=os.environ, where=self.name
        )
        try:
            answer = await send(
                prepared,
                timeout_s=self.spec.timeout_s,
                retries=self.spec.retries,
                expect=self.spec.expect_status,
            )
        except ActionFailed as exc:
            raise ActionFailed(f"{self.name}: {prepared.mask(exc.message)}") from None
        ctx.log.info(
            "http call answered",
            action=self.name,
            method=prepared.method,
            url=prepared.url,
            status=answer.status,
            attempts=answer.attempts,
        )
        if answer.status not in self.spec.expect_status:
            expect = ", ".join(str(s) for s in self.spec.expect_status)
            raise _unexpected(self.name, prepared, answer, expect)
        return answer.as_output(prepared)

    async def rollback(self, ctx: ActionContext, params: BaseModel, output: Output) -> Output:
        """Send the rollback call with the same parameters; any 2xx counts as undone."""
        call, origin = self.undo, self.rollback_origin
        if call is None or origin is None:
            return await super().rollback(ctx, params, output)
        where = f"{self.name} rollback"
        prepared = prepare(call, _values(params), origin=origin, environ=os.environ, where=where)
        try:
            answer = await send(
                prepared, timeout_s=self.spec.timeout_s, retries=self.spec.retries, expect=[]
            )
        except ActionFailed as exc:
            raise ActionFailed(f"{where}: {prepared.mask(exc.message)}") from None
        ctx.log.info(
            "http rollback answered",
            action=self.name,
            method=prepared.method,
            url=prepared.url,
            status=answer.status,
        )
        if not 200 <= answer.status < 300:
            raise _unexpected(where, prepared, answer, "2xx")
        return {"undone": True, **answer.as_output(prepared)}


def http_action(name: str, spec: HttpEndpointSpec) -> HttpAction:
    """Return the action ``http.<name>`` for the configured endpoint `spec`."""
    action_name = f"http.{name}"
    attributes: dict[str, Any] = {
        "__doc__": spec.description,
        "name": action_name,
        "description": spec.description,
        "params_model": params_model(action_name, dict(spec.params)),
        "risk": Risk(spec.risk),
        "reversible": spec.reversible,
        "idempotent": spec.idempotent,
        "timeout_s": budget_s(spec.timeout_s, spec.retries),
        "spec": spec,
        "origin": parse_url(spec.url, params=True),
        "undo": None,
        "rollback_origin": None,
    }
    if spec.rollback is not None:
        headers = {**spec.headers, **spec.rollback.headers}
        attributes["undo"] = spec.rollback.model_copy(update={"headers": headers})
        attributes["rollback_origin"] = parse_url(spec.rollback.url, params=True)
    kind = cast(type[HttpAction], type(f"HttpAction_{name}", (HttpAction,), attributes))
    return kind()


def http_actions(settings: Settings) -> list[Action[Any]]:
    """Return one action per endpoint in ``http_endpoints``."""
    return [http_action(name, spec) for name, spec in sorted(settings.http_endpoints.items())]
