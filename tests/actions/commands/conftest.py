"""Fixtures of the command tests (their helpers live in `declared`)."""

from tests.actions.commands.declared import opened, tool

__all__ = ["opened", "tool"]
