"""A target's request rate from a Prometheus server: ``query_range`` at a 5-minute step.

Read during review, outside any write transaction, through ``httpclient`` with the system's
``timeout_s`` over the whole call, asking for an uncompressed answer and reading at most
``MAX_ANSWER_BYTES`` of it. Every failure (unreachable, timeout, a status other than 200,
an answer too large, garbage, ``status: error``) is a `PrometheusFailed` naming what went
wrong in one line without the server's words, so placement can say so and use triad's own
usage instead.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from triadops import httpclient
from triadops.domain.placement import BUCKET_S
from triadops.settings.usage import PrometheusUsage

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The most of an answer read: 38 days at a 5-minute step is about 11,000 points a series."""
MAX_SERIES = 100
"""The most series summed; a query answering more is refused as too broad."""


class PrometheusFailed(Exception):
    """The Prometheus server could not give the rate; the message says why, in one line."""


class _Series(BaseModel):
    values: list[tuple[float, str]]


class _Data(BaseModel):
    resultType: str
    result: list[_Series]


class _Answer(BaseModel):
    status: str
    data: _Data | None = None


async def request_rate(
    source: PrometheusUsage,
    *,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[tuple[datetime, float]]:
    """Return (bucket, requests in those 5 minutes) over the last ``source.days`` days.

    The query's value is read as a rate per second (the usual ``rate(...)``), summed over
    the series it answers, and multiplied by 300 into the bucket's requests.
    """
    end = math.floor(now.timestamp() / BUCKET_S) * BUCKET_S
    start = end - int(timedelta(days=source.days).total_seconds())
    params = {"query": source.query, "start": str(start), "end": str(end), "step": str(BUCKET_S)}
    url = source.base_url.rstrip("/") + "/api/v1/query_range"
    try:
        async with asyncio.timeout(source.timeout_s):
            body = await _fetch(url, params, source.timeout_s, transport)
    except TimeoutError:
        raise PrometheusFailed(f"no answer within {source.timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        raise PrometheusFailed(f"unreachable ({type(exc).__name__})") from None
    return _buckets(body)


async def _fetch(
    url: str,
    params: dict[str, str],
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None,
) -> bytes:
    async with httpclient.client(timeout=timeout_s, transport=transport) as client:
        headers = {"Accept-Encoding": "identity", "Accept": "application/json"}
        async with client.stream("GET", url, params=params, headers=headers) as response:
            if response.status_code != 200:
                raise PrometheusFailed(f"answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise PrometheusFailed(f"answered more than {MAX_ANSWER_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)


def _buckets(body: bytes) -> list[tuple[datetime, float]]:
    try:
        answer = _Answer.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        raise PrometheusFailed("answered something that is not a query_range result") from None
    if answer.status != "success" or answer.data is None:
        raise PrometheusFailed(f"answered status {answer.status[:40]!r}")
    if answer.data.resultType != "matrix":
        raise PrometheusFailed(f"answered a {answer.data.resultType[:40]!r}, not a matrix")
    if len(answer.data.result) > MAX_SERIES:
        raise PrometheusFailed(f"answered {len(answer.data.result)} series (at most {MAX_SERIES})")
    totals: dict[datetime, float] = {}
    try:
        for series in answer.data.result:
            for at, value in series.values:
                rate = float(value)
                if math.isfinite(rate) and rate >= 0:
                    when = datetime.fromtimestamp(at, UTC)
                    totals[when] = totals.get(when, 0.0) + rate * BUCKET_S
    except (ValueError, OverflowError, OSError):
        raise PrometheusFailed("answered a time or value that is not a number") from None
    if not totals:
        raise PrometheusFailed("answered no samples")
    return sorted(totals.items())
