"""``http_probe.<name>``: a configured URL measured as its users see it, before and after.

Each measurement sends ``requests`` GETs one after another and keeps the statuses, the
latency percentiles (p50, p95, max over the answered requests, nearest rank) and, with a
``json_field``, whether every answer's field equals ``expected``. The verdict fails when a
request after the change failed or answered an unexpected status, when the field differs,
or when p95 after exceeds ``max(p95 before x latency_tolerance, latency_floor_ms)``.

A service already failing before the change gives no baseline to compare latency with; the
after state is then judged alone against its expectations (every request answered with an
expected status, the field as expected), so a change that leaves it down fails, and one
that brings it back passes on what it does, never on a comparison with a broken "before".
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import httpx
import orjson
from pydantic import JsonValue

from triadops import httpclient
from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.measurements import number, section
from triadops.domain.http_templates import ENV_REF, expand_environment
from triadops.domain.operations import CheckResult
from triadops.settings import Settings
from triadops.settings.systems import HttpProbeSpec

__all__ = ["HttpProbeCheck", "http_probe_checks"]

BUDGET_SHARE = 0.8
"""Share of ``check_timeout_s`` one measurement's requests may take together; the ones that
would start later are counted as failed, so the verdict says so instead of timing out."""
BODY_LIMIT = 64 * 1024
"""Bytes of an answer read to find the JSON field."""
VALUE_CHARS = 256
"""The longest JSON field value kept in a measurement (longer ones are cut, as text)."""
MASK = "***"


def _masked(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def percentile(values: list[float], q: float) -> float | None:
    """Return the nearest-rank `q` percentile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def field_of(raw: bytes, path: str) -> tuple[bool, JsonValue]:
    """Return whether the dotted `path` exists in the JSON document `raw`, and its value."""
    try:
        value: JsonValue = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False, None
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _kept(value: JsonValue, secrets: list[str]) -> JsonValue:
    if isinstance(value, str):
        return _masked(value, secrets)[:VALUE_CHARS]
    text = orjson.dumps(value).decode()
    if len(text) > VALUE_CHARS or _masked(text, secrets) != text:
        return _masked(text, secrets)[:VALUE_CHARS]
    return value


def _same(got: JsonValue, expected: JsonValue) -> bool:
    """JSON equality: ``true`` is not ``1``."""
    return got == expected and isinstance(got, bool) == isinstance(expected, bool)


@dataclass
class Tally:
    """One measurement as its requests come back."""

    spec: HttpProbeSpec
    secrets: list[str]
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error: str | None = None
    """The first failure, masked."""
    unexpected: int = 0
    matches: int = 0
    value: JsonValue = None
    """The field's value: the first that differed from ``expected``, else the last seen."""
    differed: bool = False

    def failed(self, reason: str) -> None:
        """Count a request that got no answer."""
        self.errors += 1
        self.error = self.error or _masked(reason, self.secrets)

    def answered(self, status: int, latency_ms: float, raw: bytes) -> None:
        """Count an answer: its status, latency and JSON field."""
        self.latencies_ms.append(latency_ms)
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        self.unexpected += status not in self.spec.expect_status
        if self.spec.json_field is None:
            return
        found, got = field_of(raw, self.spec.json_field)
        if found and _same(got, self.spec.expected):
            self.matches += 1
        if not self.differed:
            self.value = _kept(got, self.secrets) if found else None
            self.differed = not (found and _same(got, self.spec.expected))

    def measurement(self) -> Measurement:
        """Return what was measured, as JSON."""
        answered = len(self.latencies_ms)
        p50, p95 = percentile(self.latencies_ms, 0.5), percentile(self.latencies_ms, 0.95)
        top = max(self.latencies_ms, default=None)
        matched = None if self.spec.json_field is None else 0 < answered == self.matches
        return {
            "url": self.spec.url,
            "requests": self.spec.requests,
            "answered": answered,
            "errors": self.errors,
            # Not "error": the judiciary reads that key as a measurement that failed.
            "failure": self.error,
            "statuses": cast(dict[str, JsonValue], dict(self.statuses)),
            "unexpected": self.unexpected,
            "p50_ms": None if p50 is None else round(p50, 2),
            "p95_ms": None if p95 is None else round(p95, 2),
            "max_ms": None if top is None else round(top, 2),
            "json_field": self.spec.json_field,
            "json_value": self.value,
            "json_matches": matched,
        }


def _secrets(headers: dict[str, str], resolved: dict[str, str]) -> list[str]:
    """Every value a header read from the environment: the whole header and each variable."""
    found = [resolved[name] for name, value in headers.items() if ENV_REF.search(value)]
    found += [os.environ[m.group(1)] for value in headers.values() for m in ENV_REF.finditer(value)]
    return found


class HttpProbeCheck(Check):
    """Measure one configured URL; each probe is a subclass made by `http_probe_check`."""

    spec: ClassVar[HttpProbeSpec]

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Send the probe's requests one after another; keep statuses, latencies, the field."""
        spec = self.spec
        headers = {name: expand_environment(v, os.environ) for name, v in spec.headers.items()}
        tally = Tally(spec, _secrets(spec.headers, headers))
        budget = ctx.settings.check_timeout_s * BUDGET_SHARE
        deadline = time.perf_counter() + budget
        async with httpclient.client(timeout=spec.timeout_s, headers=headers) as client:
            for _ in range(spec.requests):
                left = min(spec.timeout_s, deadline - time.perf_counter())
                if left <= 0:
                    tally.failed(f"not sent: the check's {budget:g} s budget was spent")
                    continue
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(left):
                        request = client.build_request("GET", spec.url)
                        response = await client.send(request, stream=True)
                        raw, _ = await httpclient.read_bounded(response, BODY_LIMIT)
                except TimeoutError:
                    tally.failed(f"no answer within {left:.3g} s")
                    continue
                except httpx.TransportError as exc:
                    tally.failed(f"{type(exc).__name__}: {exc}")
                    continue
                tally.answered(response.status_code, (time.perf_counter() - started) * 1000, raw)
        return tally.measurement()

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail on a failed or unexpected answer after, a wrong field, or a slower p95."""
        spec = self.spec
        failures: list[str] = []
        total = int(number(after.get("requests")))
        if number(after.get("errors")) > 0:
            failures.append(
                f"{number(after.get('errors')):.0f} of {total} requests failed after "
                f"({after.get('failure')})"
            )
        if number(after.get("unexpected")) > 0:
            seen = ", ".join(f"{k} x{v}" for k, v in section(after.get("statuses")).items())
            expect = ", ".join(str(s) for s in spec.expect_status)
            failures.append(
                f"{number(after.get('unexpected')):.0f} of {total} answered an unexpected "
                f"status after ({seen}; expected {expect})"
            )
        if spec.json_field is not None and after.get("json_matches") is not True:
            failures.append(
                f"json field {spec.json_field} was {after.get('json_value')!r} after, "
                f"expected {spec.expected!r}"
            )
        baseline_broken = number(before.get("errors")) > 0 or number(before.get("unexpected")) > 0
        p95_before, p95_after = before.get("p95_ms"), after.get("p95_ms")
        latency = ""
        if baseline_broken:
            latency = (
                "; before the change the service was already failing "
                f"({number(before.get('errors')):.0f} failed, "
                f"{number(before.get('unexpected')):.0f} unexpected), so the after state "
                "was judged alone and latency not compared"
            )
        elif p95_before is not None and p95_after is not None:
            limit = max(number(p95_before) * spec.latency_tolerance, spec.latency_floor_ms)
            latency = (
                f"; p95 {number(p95_after):.0f} ms after vs {number(p95_before):.0f} ms before, "
                f"tolerance {spec.latency_tolerance:g}x (limit {limit:.0f} ms)"
            )
            if number(p95_after) > limit:
                failures.append(latency.removeprefix("; "))
                latency = ""
        if failures:
            detail = f"{spec.url}: " + "; ".join(failures) + latency
        else:
            shown = f", {spec.json_field} = {spec.expected!r}" if spec.json_field else ""
            detail = f"{spec.url}: {total} of {total} answered as expected{shown}{latency}"
        return CheckResult(
            name=self.name, passed=not failures, detail=detail, before=before, after=after
        )


def http_probe_check(name: str, spec: HttpProbeSpec) -> HttpProbeCheck:
    """Return the check ``http_probe.<name>`` for the configured probe `spec`."""
    expect = " or ".join(str(s) for s in spec.expect_status)
    attributes: dict[str, Any] = {
        "name": f"http_probe.{name}",
        "description": spec.description
        or f"GET {spec.url} answers {expect} within its latency before the change",
        "spec": spec,
    }
    kind = cast(type[HttpProbeCheck], type(f"HttpProbeCheck_{name}", (HttpProbeCheck,), attributes))
    return kind()


def http_probe_checks(settings: Settings) -> list[Check]:
    """Return one check per probe in ``http_probes``."""
    return [http_probe_check(name, spec) for name, spec in sorted(settings.http_probes.items())]
