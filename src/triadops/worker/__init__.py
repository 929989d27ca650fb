"""The worker: the claim loop, the journeys' leases and the monitoring loop beside them.

A layer above the constitution and the ops it drives, below the runtime that starts it;
it never imports the API or the CLI.
"""

from triadops.worker.claims import WAITING, claim, drive_once, keep_house, wait_for_operation
from triadops.worker.lease_keeper import LeaseKeeper
from triadops.worker.loop import checkpoint_once, run_worker, worker_name
from triadops.worker.process import work

__all__ = [
    "WAITING",
    "LeaseKeeper",
    "checkpoint_once",
    "claim",
    "drive_once",
    "keep_house",
    "run_worker",
    "wait_for_operation",
    "work",
    "worker_name",
]
