"""Sending one configured HTTP call: rendered, checked, retried if idempotent, bounded.

The URL is rendered from the configuration's template and its host checked again against
the configured one; header values read the environment here, at the last moment, and every
value so read is masked in whatever leaves (the answer's body, errors). Only GET, HEAD, PUT
and DELETE are sent again, after a connection error, a timeout or a 5xx.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import cast

import httpx
import orjson
from pydantic import JsonValue
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from triadops import httpclient
from triadops.actions.base import Output
from triadops.actions.masking import MASK, Masker
from triadops.domain.errors import ActionFailed, InvalidRequest, NotFound
from triadops.domain.http_templates import (
    DEFAULT_PORTS,
    ENV_REF,
    Origin,
    expand_environment,
    mask_environment,
    render_body,
    render_url,
)
from triadops.domain.parameters import ParamValue
from triadops.settings.systems import HttpCallSpec

__all__ = [
    "BODY_LIMIT",
    "IDEMPOTENT_METHODS",
    "Answer",
    "Prepared",
    "budget_s",
    "describe",
    "prepare",
    "send",
]

BODY_LIMIT = 64 * 1024
"""Bytes of an answer kept in a step's output; past it the body is cut and marked."""
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
    try:
        sent = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"{where}: the rendered URL is not valid: {exc}") from None
    port = sent.port or DEFAULT_PORTS.get(sent.scheme, 0)
    if (sent.scheme, sent.host, port) != (origin.scheme, origin.host, origin.port):
        raise InvalidRequest(
            f"{where}: the rendered URL would go to {sent.host!r}, not the configured "
            f"{origin.host!r}; refusing it"
        )
    return url


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


def budget_s(timeout_s: float, retries: int) -> float:
    """Return the longest one call may take: every attempt, the waits between, a margin."""
    return (retries + 1) * timeout_s + retries * MAX_WAIT_S + 1.0
