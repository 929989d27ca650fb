"""Kept for importers: what a change-linked silence is now lives in the domain.

Opening and ending them at commit is ``ops.change_silences``, a commit subscriber the
runtime registers; the constitution knows nothing of alert semantics.
"""

from triadops.domain.change_silences import LAST_S, SPARED, SYSTEM_LABEL, matchers_for, names_system

__all__ = ["LAST_S", "SPARED", "SYSTEM_LABEL", "matchers_for", "names_system"]
