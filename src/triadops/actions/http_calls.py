"""``http.<name>``: a configured HTTP call, with declared parameters, checks and an undo.

Only endpoints declared in ``http_endpoints`` exist. A request fills in declared parameters,
which go into the URL's path and query (percent-encoded) and the JSON body, never the host:
the host is checked at load (loopback or ``http_allowed_hosts``) and again on every rendered
URL. Header values may read the environment (``${NAME}``); those values are secrets, masked
in the preview, the output, errors and logs. Retries happen only for idempotent methods.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, cast

import httpx
import orjson
from pydantic import BaseModel, JsonValue
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from triadops import httpclient
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.masking import MASK, Masker
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, InvalidRequest, NotFound
from triadops.domain.http_templates import (
    DEFAULT_PORTS,
    ENV_REF,
    Origin,
    expand_environment,
    mask_environment,
    parse_url,
    render_body,
    render_url,
)
from triadops.domain.operations import StepPreview
from triadops.domain.parameters import ParamValue, params_model
from triadops.settings import Settings
from triadops.settings.systems import HttpCallSpec, HttpEndpointSpec

__all__ = ["BODY_LIMIT", "IDEMPOTENT_METHODS", "HttpAction", "http_actions"]

BODY_LIMIT = 64 * 1024
"""Bytes of an answer kept in a step's output; past it the body is cut and marked."""
ERROR_BODY_CHARS = 1024
"""Characters of an unexpected answer quoted in the step's error."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
"""Methods sent again after a connection error, a timeout or a 5xx; never POST or PATCH."""
FIRST_WAIT_S = 0.2
MAX_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Prepared:
    """One call ready to send: rendered URL and body, resolved headers (secrets inside)."""

    method: str
    url: str
    headers: Mapping[str, str]
    """Resolved values: send them, never show them."""
    body: JsonValue
    has_body: bool
    mask: Masker


@dataclass(frozen=True, slots=True)
class Answer:
    """What the endpoint said: status and bounded, masked body."""

    status: int
    body: str
    truncated: bool
    attempts: int
    duration_s: float

    def as_output(self, prepared: Prepared) -> Output:
        """Return the record kept in the step's output."""
        return {
            "method": prepared.method,
            "url": prepared.url,
            "status": self.status,
            "body": self.body,
            "truncated": self.truncated,
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
        }


def _url(call: HttpCallSpec, values: Mapping[str, ParamValue], origin: Origin, where: str) -> str:
    """Render the call's URL and check that it still goes where the configuration says."""
    url = render_url(call.url, values)
    sent = httpx.URL(url)
    port = sent.port or DEFAULT_PORTS.get(sent.scheme, 0)
    if (sent.scheme, sent.host, port) != (origin.scheme, origin.host, origin.port):
        raise InvalidRequest(
            f"{where}: the rendered URL would go to {sent.host!r}, not the configured "
            f"{origin.host!r}; refusing it"
        )
    return url


def _values(params: BaseModel) -> dict[str, ParamValue]:
    return cast(dict[str, ParamValue], params.model_dump())


def prepare(
    call: HttpCallSpec,
    values: Mapping[str, ParamValue],
    *,
    origin: Origin,
    environ: Mapping[str, str],
    where: str,
) -> Prepared:
    """Render `call` with `values` and read its headers from `environ`."""
    url = _url(call, values, origin, where)
    headers: dict[str, str] = {}
    secrets: list[str] = []
    for name, template in call.headers.items():
        try:
            headers[name] = expand_environment(template, environ)
        except NotFound as exc:
            raise ActionFailed(f"{where}: header {name}: {exc.message}") from None
        if ENV_REF.search(template):
            secrets.append(headers[name])
            secrets.extend(environ[match.group(1)] for match in ENV_REF.finditer(template))
    return Prepared(
        method=call.method,
        url=url,
        headers=headers,
        body=render_body(call.body, values),
        has_body=call.body is not None,
        mask=Masker(secrets),
    )


def describe(
    call: HttpCallSpec, values: Mapping[str, ParamValue], origin: Origin, where: str
) -> str:
    """Say what the call would send, without reading the environment: secrets show as ***."""
    parts = [f"{call.method} {_url(call, values, origin, where)}"]
    if call.headers:
        shown = ", ".join(f"{k}: {mask_environment(v, MASK)}" for k, v in call.headers.items())
        parts.append(f"headers {shown}")
    if call.body is not None:
        parts.append(f"body {orjson.dumps(render_body(call.body, values)).decode()}")
    return "; ".join(parts)


async def _once(client: httpx.AsyncClient, prepared: Prepared, timeout_s: float) -> Answer:
    request = client.build_request(
        prepared.method,
        prepared.url,
        headers=dict(prepared.headers),
        json=prepared.body if prepared.has_body else None,
    )
    started = time.perf_counter()
    try:
        # httpx's timeout bounds each read; this bounds the whole answer (a slow drip).
        async with asyncio.timeout(timeout_s):
            response = await client.send(request, stream=True)
            raw, truncated = await httpclient.read_bounded(response, BODY_LIMIT)
    except TimeoutError:
        raise ActionFailed(f"no answer within {timeout_s:g} s") from None
    except httpx.TransportError as exc:
        reason = prepared.mask(str(exc)) or "no reason given"
        raise ActionFailed(f"{type(exc).__name__}: {reason}") from None
    body = prepared.mask(raw.decode("utf-8", errors="replace"))
    return Answer(response.status_code, body, truncated, 1, time.perf_counter() - started)


async def send(prepared: Prepared, *, timeout_s: float, retries: int, expect: list[int]) -> Answer:
    """Send `prepared`; an idempotent method is retried after a connection error or a 5xx.

    Raises ActionFailed when no attempt got an answer; returns the last answer otherwise,
    whatever its status.
    """
    attempts = 1 + (retries if prepared.method in IDEMPOTENT_METHODS else 0)

    def last(state: RetryCallState) -> Answer:
        assert state.outcome is not None
        return cast(Answer, state.outcome.result())  # re-raises a connection error

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=FIRST_WAIT_S, max=MAX_WAIT_S),
        retry=retry_if_exception_type(ActionFailed)
        | retry_if_result(lambda a: a.status >= 500 and a.status not in expect),
        retry_error_callback=last,
        reraise=True,
    )
    tries = 0
    started = time.perf_counter()
    async with httpclient.client(timeout=timeout_s) as client:

        async def attempt() -> Answer:
            nonlocal tries
            tries += 1
            return await _once(client, prepared, timeout_s)

        try:
            answer: Answer = await retrying(attempt)
        except ActionFailed as exc:
            raise ActionFailed(
                f"{prepared.method} {prepared.url} failed after {tries} attempt(s): {exc.message}"
            ) from None
    return replace(answer, attempts=tries, duration_s=time.perf_counter() - started)


def budget_s(spec: HttpEndpointSpec) -> float:
    """Return the longest one call may take: every attempt, the waits between, a margin."""
    return (spec.retries + 1) * spec.timeout_s + spec.retries * MAX_WAIT_S + 1.0


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
        "timeout_s": budget_s(spec),
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
