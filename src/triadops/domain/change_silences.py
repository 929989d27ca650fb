"""What a change-linked silence is, shared by who opens it, who judges and who replays it.

A change's own alerts are expected, so a silence scoped to its affected systems (the
``system`` label) mutes them while it runs (``ops.change_silences`` opens and ends it), never
a critical or an emergency. The judiciary reads the same label as evidence against a change
(`names_system`), and the audit replays the matchers (`matchers_for`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from triadops.domain.alerts import Severity

LAST_S = 6 * 3600.0
"""The longest a change-linked silence lasts, whatever its operation does; the monitoring
loop holds it to ``alerts.change_silence_max_s`` when that is shorter. The audit holds
every stored end to it, so it is not a setting."""
SYSTEM_LABEL = "system"
"""The label that names the system an alert is about: what a change silences, and what the
judiciary reads as evidence against a change (see `names_system`)."""
SPARED = (Severity.CRITICAL, Severity.EMERGENCY)
"""Severities a change never mutes: they reach their people whatever is being changed."""


def matchers_for(systems: list[str], *, spare_loud: bool = True) -> list[dict[str, Any]]:
    """Return the matchers of a silence over `systems`: an anchored regex on ``system``.

    With `spare_loud` (every silence opened since critical alerts were spared), a second
    matcher leaves critical and emergency alerts sounding; without it, the matchers that
    silences opened before stored, which the audit replays.
    """
    pattern = "|".join(re.escape(s) for s in sorted(set(systems)))
    matchers: list[dict[str, Any]] = [{"name": SYSTEM_LABEL, "op": "=~", "value": f"({pattern})"}]
    if spare_loud:
        loud = "|".join(s.value for s in SPARED)
        matchers.append({"name": "severity", "op": "!~", "value": f"({loud})"})
    return matchers


def names_system(labels: Mapping[str, Any], systems: Collection[str]) -> bool:
    """True when an alert's `labels` name one of `systems` (the label a change silences)."""
    return str(labels.get(SYSTEM_LABEL, "")) in set(systems)
