"""The ``http.<name>`` actions: configured calls (`endpoints`) and how one is sent (`sending`)."""

from __future__ import annotations

from triadops.actions.http.endpoints import HttpAction, http_action, http_actions
from triadops.actions.http.sending import BODY_LIMIT, IDEMPOTENT_METHODS

__all__ = ["BODY_LIMIT", "IDEMPOTENT_METHODS", "HttpAction", "http_action", "http_actions"]
