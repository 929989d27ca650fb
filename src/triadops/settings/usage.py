"""The usage section: how long triad keeps its own load, and where a target's comes from."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from triadops.domain.http_templates import parse_url

SYSTEM = r"^[A-Za-z0-9_.:-]{1,200}$"
"""An affected system's name as requests give it."""


def _plain_url(url: str) -> str:
    parse_url(url, params=False)
    return url


class PrometheusUsage(BaseModel):
    """A system's request rate, read from a Prometheus server with ``query_range``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_plain_url)]
    """The server's base URL (``http://prometheus:9090``); ``/api/v1/query_range`` is added."""
    query: str = Field(min_length=1, max_length=2000)
    """The PromQL expression whose value is the system's load, such as
    ``sum(rate(http_requests_total{job="web"}[5m]))``."""
    days: int = Field(default=28, ge=1, le=38)
    """How many days back to read at a 5-minute step (Prometheus answers at most 11,000
    points a series: 38 days)."""
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """How long the query may take before placement falls back to triad's own usage."""


class UsageSettings(BaseModel):
    """Triad's own load per 5-minute bucket and the optimal window's horizon."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    keep_days: int = Field(default=90, ge=1, le=3650)
    """Usage buckets older than this many days are pruned by the monitor."""
    every_s: float = Field(default=60.0, gt=0)
    """How often the monitoring leader counts operations into buckets and prunes old ones."""
    horizon_days: int = Field(default=14, ge=1, le=366)
    """How far ahead the optimal window for work that needs one is looked for."""
    prometheus: dict[Annotated[str, Field(pattern=SYSTEM)], PrometheusUsage] = Field(
        default_factory=dict
    )
    """Per affected system: where its request rate is read from. Work on a system named
    here is placed by that rate; triad's own usage otherwise, or when the query fails."""
