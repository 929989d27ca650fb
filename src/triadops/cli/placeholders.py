"""Help a person reads: placeholders such as ``TEXT``, ``N`` and ``PATH``, not ``<str>``.

Typer shows a parameter's Python type (``<str>``, ``<list[str]>``, ``<bool>``) where a
command line shows a placeholder. Every command is given one once, when the root group is
built: a flag shows none, an option without its own metavar shows one by type.
"""

from __future__ import annotations

from pathlib import Path

from typer.core import TyperArgument, TyperGroup, TyperOption

from triadops.cli.clicktypes import Command, Context

_BY_TYPE: dict[object, str] = {int: "N", float: "NUMBER", Path: "PATH", bool: "BOOL"}


class ReadableArgument(TyperArgument):
    """An argument whose placeholder is its name (``OPERATION_ID``), with no type beside it."""

    def display_type_rich(self, ctx: Context) -> str | None:
        """Show no type: the placeholder already says what goes there."""
        return None

    def _usage_display_name(self) -> str:
        """Show ``NAME`` (required) or ``[NAME]``, with ``...`` once when it repeats."""
        name = self.display_name_raw.removesuffix("...")
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name


def _placeholder(option: TyperOption) -> str:
    annotation = option.type_descriptor.annotation
    element = getattr(annotation, "__args__", (annotation,))[0]
    return _BY_TYPE.get(element, _BY_TYPE.get(annotation, "TEXT"))


def give_placeholders(command: Command) -> None:
    """Give `command`, and every command under it, placeholders a person reads."""
    help_option = command.get_help_option(Context(command))
    if help_option is not None:
        help_option.metavar = ""
    for param in command.params:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _placeholder(param)
        elif isinstance(param, TyperArgument) and not isinstance(param, ReadableArgument):
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            param.__class__ = ReadableArgument
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            give_placeholders(sub)
