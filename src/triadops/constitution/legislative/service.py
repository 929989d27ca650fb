"""The legislature's public surface: review, submission and amendment, in one place.

Each concept lives in its own module (``review``, ``submission``, ``amendment``); the API,
the CLI and the runtime import them from here.
"""

from __future__ import annotations

from triadops.constitution.legislative.amendment import amend_operation
from triadops.constitution.legislative.review import (
    SUBMISSIONS,
    Reviewed,
    Submitting,
    decide,
    draft_plan,
    expand,
    preview_operation,
    review_request,
)
from triadops.constitution.legislative.submission import (
    AWAITING_PLANNER,
    RULES,
    Stored,
    adopt_plan,
    approve_and_schedule,
    commit_new_operation,
    conclude,
    consults_planner,
    iso,
    store_reviewed,
    submit_operation,
)

__all__ = [
    "AWAITING_PLANNER",
    "RULES",
    "SUBMISSIONS",
    "Reviewed",
    "Stored",
    "Submitting",
    "adopt_plan",
    "amend_operation",
    "approve_and_schedule",
    "commit_new_operation",
    "conclude",
    "consults_planner",
    "decide",
    "draft_plan",
    "expand",
    "iso",
    "preview_operation",
    "review_request",
    "store_reviewed",
    "submit_operation",
]
