"""The public surface for plugins: what an outside action, check or notifier builds on.

Entry points (``triadops.actions``, ``triadops.checks``) load code we do not review, so the
names here are a promise: ``tests/test_plugins.py`` pins them and their signatures, and a
change to either is a breaking change to say in the changelog.
"""

from __future__ import annotations

from triadops.actions.base import Action, ActionContext
from triadops.checks.base import Check, CheckContext
from triadops.ops.alerts.notifiers import Notifier

__all__ = ["Action", "ActionContext", "Check", "CheckContext", "Notifier"]
