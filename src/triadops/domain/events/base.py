"""What every ledger event is: a frozen model whose fields are its entry's details.

The hash covers the details as stored, so a model writes exactly the keys its writer
set, in the order its fields are declared (``exclude_unset``): an optional key left out
stays out, as it did when the details were a dict. Strict validation keeps values as they
are (no ``1`` for ``True``, no ``2.0`` for ``2``), so the hash input is what it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, JsonValue

Number = int | float
"""A figure stored as written: an int stays an int, a float a float (the hash sees both)."""


class LedgerEvent(BaseModel):
    """One kind of ledger entry; ``kind`` is stored in the entry's ``event`` column."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    kind: str
    COLUMNS: ClassVar[frozenset[str]] = frozenset()
    """Fields stored in the entry's own columns (``from_status``, ``to_status``), not details."""
    RENAMED: ClassVar[dict[str, str]] = {}
    """Field → detail key, for a detail whose key is taken (``kind``, the discriminator)."""

    def details(self) -> dict[str, JsonValue]:
        """Return the entry's details: the fields its writer set, kind and columns aside."""
        dumped: dict[str, JsonValue] = self.model_dump(
            exclude_unset=True, exclude={"kind", *self.COLUMNS}
        )
        if self.RENAMED:
            return {self.RENAMED.get(key, key): value for key, value in dumped.items()}
        return dumped

    def statuses(self) -> tuple[str | None, str | None]:
        """Return the entry's ``from_status`` and ``to_status`` columns."""
        fields: dict[str, Any] = self.__dict__
        return fields.get("from_status"), fields.get("to_status")


@dataclass(frozen=True, slots=True)
class Queued:
    """An event queued in a transaction, as commit subscribers see it before it is linked."""

    event: LedgerEvent
    actor: str
    subject: str | None
    """The entry's subject: an operation's id, ``alert:<id>``, or None."""
    at: datetime
