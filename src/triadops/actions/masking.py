"""Masking: the values of declared secrets never leave a step's output, preview or log."""

from __future__ import annotations

from collections.abc import Iterable

import re2

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Masker"]

MASK = "***"
MIN_SECRET_LENGTH = 3
"""Shorter values are not masked: masking ``1`` or ``on`` would garble every output."""


class Masker:
    """Replace every occurrence of the secret values it was given with ``***``.

    One RE2 alternation of the escaped values, longest first, so a secret that contains
    another is masked whole and the cost is linear in the text.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._pattern = re2.compile("|".join(re2.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        """Return `text` with every secret value replaced by ``***``."""
        if self._pattern is None or not text:
            return text
        masked: str = self._pattern.sub(MASK, text)
        return masked

    def __bool__(self) -> bool:
        return self._pattern is not None
