"""Spans around each branch and each agent call, exported only where someone listens.

Tracing is off unless a Logfire token or an OpenTelemetry endpoint is configured in the
environment (``LOGFIRE_TOKEN``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). Off, a span is a no-op and logfire is never
imported, so the rules-only path pays nothing for it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

_ENABLED = False
ENDPOINT_VARIABLES = (
    "LOGFIRE_TOKEN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


def wanted() -> bool:
    """True when the environment names somewhere to send traces."""
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(*, service: str = "triadops") -> bool:
    """Set up logfire (OpenTelemetry) when traces have somewhere to go; return whether.

    ``send_to_logfire='if-token-present'``: without a token nothing goes to Logfire, and
    an OTLP endpoint in the environment gets the spans instead. Agents' model calls are
    instrumented too (pydantic-ai's spans, without the prompts' contents).
    """
    global _ENABLED
    if _ENABLED or not wanted():
        return _ENABLED
    import logfire

    logfire.configure(
        send_to_logfire="if-token-present",
        service_name=service,
        console=False,
        inspect_arguments=False,
        scrubbing=logfire.ScrubbingOptions(extra_patterns=["api_key", "authorization"]),
    )
    logfire.instrument_pydantic_ai(include_content=False)
    _ENABLED = True
    return True


_OFF: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """Open a span named `name` when tracing is on; otherwise a shared do-nothing context."""
    if not _ENABLED:
        return _OFF
    import logfire

    return logfire.span(name, _span_name=name, **attributes)
