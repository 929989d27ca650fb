"""A worker process's loops: the claim loop and, beside it, the monitoring loop.

The runtime starts this (``Runtime.work``); ``triad worker`` and ``triad serve`` run it.
"""

from __future__ import annotations

import asyncio

from triadops.constitution.powers import Powers
from triadops.ops.health.api_errors import RequestCounts
from triadops.ops.monitor import Monitor
from triadops.worker.loop import run_worker, worker_name


async def work(
    powers: Powers,
    *,
    stop: asyncio.Event,
    owner: str | None = None,
    request_counts: RequestCounts | None = None,
) -> None:
    """Drive operations, and the monitoring loop beside them, until `stop` is set.

    The monitoring loop runs unless the ``monitor`` setting is off. `request_counts` are
    the API's, in the process that serves one.
    """
    owner = owner or worker_name()
    loops = [run_worker(powers, stop=stop, owner=owner)]
    if powers.settings.monitor:
        monitor = Monitor(powers, owner=owner, request_counts=request_counts)
        loops.append(monitor.run(stop))
    await asyncio.gather(*loops)
