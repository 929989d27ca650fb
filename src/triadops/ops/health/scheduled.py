"""What the monitor runs for health on a cadence: check, hold, store.

Every ``health.every_s`` the monitor (`ops.monitor`) takes a check (`check_health`: reads
only, its network I/O outside any transaction), holds its conditions against the last
report's tracks (`hold_alerts`), stores it in a short write of its own (`save_report`), and
gives the alerts held firing to the alerts feature. Each step is safe to run again.
"""

from triadops.ops.health.service import check_health, hold_alerts, save_report

__all__ = ["check_health", "hold_alerts", "save_report"]
