"""Typer's vendored click, named once: the one module that imports ``typer._click``.

Typer vendors click as the private ``typer._click`` and gives no public path to the base
``Command`` and ``Context`` types or to ``get_current_context``, which the root group's
error mapping, the step parser and the placeholders need. Everything else imports them
from here (ruff's TID251 bans ``typer._click`` elsewhere), so a Typer upgrade that moves
them changes this file alone.
"""

from typer._click.core import Command, Context
from typer._click.globals import get_current_context

__all__ = ["Command", "Context", "get_current_context"]
