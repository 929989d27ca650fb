"""Health: collectors, thresholds, scores and stored reports.

The monitoring loop builds `default_collectors` once, then every ``health.every_s`` calls
`check_health` (reads only) and `save_report` (a short write). ``triad health`` and
``GET /constitutional-health`` use the same functions.
"""

from triadops.ops.health.api_errors import ApiErrorsCollector, RequestCounts
from triadops.ops.health.collectors import Collector, Reading, run_collectors
from triadops.ops.health.report import build_report
from triadops.ops.health.service import (
    check_health,
    default_collectors,
    history,
    latest,
    save_report,
    store_report,
)

__all__ = [
    "ApiErrorsCollector",
    "Collector",
    "Reading",
    "RequestCounts",
    "build_report",
    "check_health",
    "default_collectors",
    "history",
    "latest",
    "run_collectors",
    "save_report",
    "store_report",
]
