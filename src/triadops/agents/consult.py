"""One agent's consultations: its model, its limits, and what is kept of each call.

Every call runs outside any database transaction, under a deadline covering retries and
queueing, with usage limits per operation and a concurrency cap shared by every agent on
the same model. A call that fails for any reason returns no output and a report saying
why, and raises a warning alert: the caller then fails closed. Keys never leave the
environment: errors are described by their kind and status, never their bodies, and both
errors and answers are scrubbed of keys (`keys.scrub`) before anyone keeps them. An answer
body over ``agents.max_response_bytes`` is refused as it arrives (`bounded_http`).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
import structlog
from pydantic import BaseModel, ValidationError
from pydantic_ai import Agent, capture_run_messages
from pydantic_ai.concurrency import ConcurrencyLimiter
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelHTTPError,
    UnexpectedModelBehavior,
    UsageLimitExceeded,
)
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.concurrency import limit_model_concurrency
from pydantic_ai.providers import Provider, infer_provider, infer_provider_class
from pydantic_ai.settings import ModelSettings
from pydantic_ai.toolsets import AbstractToolset
from pydantic_ai.usage import RunUsage, UsageLimits
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from triadops import tracing
from triadops.agents import alarms
from triadops.agents.bounded_http import AnswerTooLarge, bounded_client
from triadops.agents.keys import scrub, scrub_value, settings_secrets
from triadops.domain.agents import AgentName, AgentReport
from triadops.domain.operations import utcnow
from triadops.settings import Settings

log = structlog.stdlib.get_logger(__name__)
Out = TypeVar("Out", bound=BaseModel)


def build_model(spec: str, settings: Settings, http_client: httpx2.AsyncClient) -> Model:
    """Build the pydantic-ai model a spec names; the provider reads its key from the env.

    An http(s) spec is an OpenAI-compatible server (Ollama, vLLM, LM Studio) spoken to
    with Chat Completions; ``OPENAI_API_KEY`` is sent when set (local servers ignore it).
    Every provider that speaks HTTP through httpx is given `http_client` (the bounded one);
    the caller closes it.
    """
    if spec.startswith(("http://", "https://")):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        key = os.environ.get("OPENAI_API_KEY") or "not-needed"
        name = settings.agents.model_name or "default"
        openai = OpenAIProvider(base_url=spec, api_key=key, http_client=http_client)
        return OpenAIChatModel(name, provider=openai)

    def provider(name: str) -> Provider[Any]:
        kind = infer_provider_class(name)
        if "http_client" in inspect.signature(kind.__init__).parameters:
            return kind(http_client=http_client)  # type: ignore[call-arg]
        return infer_provider(name)  # its SDK does not speak httpx (Bedrock's boto3)

    return infer_model(spec, provider_factory=provider)


def too_large(exc: BaseException) -> AnswerTooLarge | None:
    """The `AnswerTooLarge` behind `exc` (its cause, context or group), if any."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, AnswerTooLarge):
            return current
        linked = [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            linked.extend(current.exceptions)
        pending.extend(e for e in linked if e is not None)
    return None


def _first_line(text: str) -> str:
    lines = scrub(text).splitlines()
    return lines[0][:200] if lines else ""


def describe(exc: BaseException, *, timeout_s: float) -> str:
    """Say in one line what went wrong: its kind and status, never a body or a key."""
    if (big := too_large(exc)) is not None:
        return f"answer too large: {big}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(exc, UsageLimitExceeded):
        return f"usage limit reached: {exc.message}"
    if isinstance(exc, ModelHTTPError):
        return f"{type(exc).__name__}: HTTP {exc.status_code} from the model's API"
    if isinstance(exc, ModelAPIError):
        return f"{type(exc).__name__}: the model's API failed"
    if isinstance(exc, UnexpectedModelBehavior):
        return f"invalid answer: {_first_line(exc.message)}"
    first = _first_line(str(exc))
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@dataclass
class Answer(Generic[Out]):
    """What one consultation gave: the output (None when it failed) and its report."""

    output: Out | None
    report: AgentReport
    messages: list[ModelMessage] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)


class Limiters:
    """One concurrency cap per model, shared by the agents that consult it."""

    def __init__(self, per_model: int) -> None:
        self.per_model = per_model
        self._by_model: dict[str, ConcurrencyLimiter] = {}

    def of(self, spec: str, *, display: str) -> ConcurrencyLimiter:
        """The cap for `spec`, named by its `display` (a spec is never shown)."""
        limiter = self._by_model.get(spec)
        if limiter is None:
            limiter = ConcurrencyLimiter(self.per_model, name=f"triad:{display}")
            self._by_model[spec] = limiter
        return limiter


class Consultant:
    """Consults one agent's model for one branch; never raises for the model's failure."""

    def __init__(
        self,
        name: AgentName,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        limiters: Limiters,
        model: Model | None = None,
        spec: str | None = None,
    ) -> None:
        """Consult `model` (tests) or the model the settings give `name`."""
        self.name = name
        self.settings = settings
        self.sessions = sessions
        self.spec = spec or settings.agent_model(name.value)
        self.display = (
            model.model_name if model is not None else settings.agent_model_display(name.value)
        )
        self._limiter = limiters.of(self.spec, display=self.display)
        self._model = None if model is None else limit_model_concurrency(model, self._limiter)
        self._entered: Model | None = None
        self._client: httpx2.AsyncClient | None = None
        self._secrets = settings_secrets(settings)
        """The settings' own secrets, never to be kept in an answer or an error."""
        self._building = asyncio.Lock()
        self._failing = False
        """Whether this process raised a failure alert that a good answer should resolve."""

    async def model(self) -> Model:
        """The model, built and entered on first use (a missing key is a failed call).

        Entering it lets its provider's HTTP client be closed with ``aclose``.
        """
        async with self._building:
            if self._model is None:
                client = bounded_client(self.settings.agents.max_response_bytes)
                try:
                    # In a thread: building imports the provider's SDK, seconds of CPU on a
                    # busy machine, which on the event loop would starve the lease keeper
                    # (the lease would lapse and the operation be claimed, and asked, again).
                    built = await asyncio.to_thread(build_model, self.spec, self.settings, client)
                    await built.__aenter__()
                except BaseException:
                    await client.aclose()
                    raise
                self._client, self._entered = client, built
                self._model = limit_model_concurrency(built, self._limiter)
        return self._model

    async def aclose(self) -> None:
        """Close the model this consultant built, and its HTTP client."""
        entered, self._entered, self._model = self._entered, None, None
        client, self._client = self._client, None
        try:
            if entered is not None:
                await entered.__aexit__(None, None, None)
        finally:
            if client is not None:
                await client.aclose()

    def scrubbed(self, text: str) -> str:
        """Return `text` (something the model said) scrubbed of keys (`keys.scrub`)."""
        return scrub(text, self._secrets)

    def cleaned(self, output: Out) -> Out:
        """Return `output` with every text in it scrubbed of keys (`keys.scrub`).

        A cleaned answer that no longer fits its type (a key where a choice was asked)
        raises ValidationError: a failed consultation.
        """
        said = output.model_dump(mode="json")
        clean = scrub_value(said, self._secrets)
        return output if clean == said else type(output).model_validate(clean)

    def model_settings(self) -> ModelSettings:
        """Per-request settings: the deadline and the provider client's transient retries."""
        agents = self.settings.agents
        return ModelSettings(timeout=agents.timeout_s, max_retries=agents.max_retries)

    def limits(self) -> UsageLimits:
        """Requests and tokens one agent may spend on one operation."""
        agents = self.settings.agents
        return UsageLimits(
            request_limit=agents.request_limit, total_tokens_limit=agents.total_tokens_limit
        )

    async def ask(
        self,
        agent: Agent[None, Out],
        prompt: str,
        *,
        operation_id: str | None,
        timeout_s: float | None = None,
        toolsets: Sequence[AbstractToolset[None]] | None = None,
        usage: RunUsage | None = None,
        alert: bool = True,
        limits: UsageLimits | None = None,
    ) -> Answer[Out]:
        """Run `agent` once on `prompt`; a failure is an Answer without output, and alerts.

        `usage` carries what earlier calls for the same operation spent (the executor's
        steps), so the usage limits hold per operation; `limits` replaces the usual ones.
        """
        budget = timeout_s or self.settings.agents.timeout_s
        started = time.perf_counter()
        run_usage = usage or RunUsage()
        output: Out | None = None
        error: str | None = None
        messages: list[ModelMessage] = []
        with (
            tracing.span(f"agent {self.name.value}", model=self.display, operation_id=operation_id),
            capture_run_messages() as captured,
        ):
            try:
                result = await agent.run(
                    prompt,
                    model=await self.model(),
                    model_settings=self.model_settings(),
                    usage_limits=limits or self.limits(),
                    usage=copy.copy(usage) if usage else None,
                    timeout=budget,
                    toolsets=toolsets,
                )
                output = result.output
                run_usage = result.usage
            except Exception as exc:
                error = scrub(describe(exc, timeout_s=budget), self._secrets)
            messages = list(captured)
        if output is not None:
            try:
                # Up to 50 texts of 2000 characters each: off the event loop.
                output = await asyncio.to_thread(self.cleaned, output)
            except ValidationError:
                output = None
                error = "invalid answer: it no longer fits its type once its keys are masked"
        report = AgentReport(
            agent=self.name,
            model=self.display,
            ok=output is not None,
            output=output.model_dump(mode="json") if output is not None else {},
            error=error,
            latency_s=round(time.perf_counter() - started, 6),
            requests=run_usage.requests - (usage.requests if usage else 0),
            input_tokens=run_usage.input_tokens - (usage.input_tokens if usage else 0),
            output_tokens=run_usage.output_tokens - (usage.output_tokens if usage else 0),
            at=utcnow(),
        )
        if error is not None:
            log.warning(
                "agent consultation failed",
                agent=self.name.value,
                model=self.display,
                operation_id=operation_id,
                error=error,
            )
            if alert:
                await self.alarm_failed(report, operation_id=operation_id)
        elif self._failing:
            self._failing = False
            recovered = alarms.recovered(self.name.value, self.display)
            await alarms.raise_alert(self.sessions, self.settings, recovered)
        return Answer(output, report, messages, run_usage)

    async def alarm_failed(self, report: AgentReport, *, operation_id: str | None) -> None:
        """Raise the warning alert that says this agent gave no valid answer.

        It lapses `agents.window_s` after its last repeat, or resolves at this process's
        next good answer.
        """
        window = self.settings.agents.window_s
        alert = alarms.failed(report, operation_id=operation_id, window_s=window)
        await alarms.raise_alert(self.sessions, self.settings, alert)
        self._failing = True


def as_data(value: Any) -> str:
    """Render data for a prompt, fenced: whatever it says is data, never an instruction."""
    text = json.dumps(value, indent=1, default=str, ensure_ascii=False)
    return f"<data>\n{text}\n</data>"
