"""The one place triad builds HTTP clients, with a transport a test or a drill may inject.

Notifiers, the health check's HTTP targets and the CLI's remote client all get their
clients here: redirects never followed, httpx's default TLS context built once, and the
transport given, else the one installed with `using` (a recording transport in a test), else
httpx's own. The agents' model clients are pydantic-ai's (``agents.bounded_http``): another
HTTP library, loaded only when a model is consulted.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

_async_transport: httpx.AsyncBaseTransport | None = None
_sync_transport: httpx.BaseTransport | None = None


@functools.cache
def tls() -> ssl.SSLContext:
    """Return httpx's default TLS context, built once: building one costs tens of ms."""
    return httpx.create_ssl_context()


def client(
    *,
    timeout: float | httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.AsyncClient:
    """Return an async client that follows no redirect, on `transport` or the installed one."""
    return httpx.AsyncClient(
        timeout=timeout,
        verify=tls(),
        follow_redirects=False,
        headers=headers,
        transport=transport or _async_transport,
    )


def sync_client(
    *,
    base_url: str,
    timeout: float | httpx.Timeout,
    transport: httpx.BaseTransport | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """Return a blocking client for `base_url` (the CLI's), on `transport` or the installed one."""
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=tls(),
        follow_redirects=False,
        headers=headers,
        transport=transport or _sync_transport,
    )


async def read_bounded(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Read at most `limit` bytes of a streamed `response` and close it; say if more came.

    A server that answers without end cannot fill the memory of whoever asked.
    """
    kept = bytearray()
    truncated = False
    try:
        async for chunk in response.aiter_bytes():
            kept += chunk
            if len(kept) > limit:
                truncated = True
                break
    finally:
        await response.aclose()
    return bytes(kept[:limit]), truncated


@contextmanager
def using(
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    sync: httpx.BaseTransport | None = None,
) -> Iterator[None]:
    """Build every client on `transport` (async) and `sync` until the block ends."""
    global _async_transport, _sync_transport
    before = _async_transport, _sync_transport
    _async_transport, _sync_transport = transport, sync
    try:
        yield
    finally:
        _async_transport, _sync_transport = before
