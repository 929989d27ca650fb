"""The HTTP client the agents' providers use: an answer over the size cap is never read whole.

A model's API (or anything at its URL) may answer megabytes; the provider's SDK would read
them into memory before anyone looks. This client asks for an uncompressed answer, refuses
one whose ``Content-Length`` or ``Content-Encoding`` says it could pass the cap, and stops
reading a streamed body the moment it passes ``agents.max_response_bytes``: the call then
fails with `AnswerTooLarge`, a failed consultation like any other. Event hooks, not a
transport of our own, so the proxies set in the environment still apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2
from pydantic_ai.models import create_async_httpx2_client


class AnswerTooLarge(Exception):
    """A model's API answered more bytes than ``agents.max_response_bytes``."""

    def __init__(self, limit: int, *, said: str) -> None:
        super().__init__(f"the model's answer {said} (agents.max_response_bytes = {limit})")
        self.limit = limit


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that raises `AnswerTooLarge` once more than `limit` bytes arrived."""

    def __init__(self, wrapped: httpx2.AsyncByteStream, limit: int) -> None:
        self._wrapped = wrapped
        self._limit = limit
        self.read = 0
        """Bytes received so far."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._wrapped:
            self.read += len(chunk)
            if self.read > self._limit:
                raise AnswerTooLarge(self._limit, said=f"passed {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._wrapped.aclose()


async def _ask_uncompressed(request: httpx2.Request) -> None:
    # A compressed body of a few kilobytes can inflate to gigabytes: count what is decoded.
    request.headers["Accept-Encoding"] = "identity"


def _refuse_oversized(limit: int) -> Callable[[httpx2.Response], Awaitable[None]]:
    async def hook(response: httpx2.Response) -> None:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            await response.aclose()
            raise AnswerTooLarge(limit, said=f"came compressed ({encoding}) though not asked to")
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            await response.aclose()
            raise AnswerTooLarge(limit, said=f"announced {int(length)} bytes")
        if not isinstance(response.stream, httpx2.AsyncByteStream):
            raise TypeError("a model's API answered through a synchronous stream")
        response.stream = _CappedStream(response.stream, limit)

    return hook


def bounded_client(max_response_bytes: int) -> httpx2.AsyncClient:
    """Return pydantic-ai's default client, refusing answers over `max_response_bytes`."""
    client = create_async_httpx2_client()
    hooks = client.event_hooks
    client.event_hooks = {
        "request": [*hooks["request"], _ask_uncompressed],
        "response": [*hooks["response"], _refuse_oversized(max_response_bytes)],
    }
    return client
