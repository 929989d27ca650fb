"""The folders file actions may touch: only those the operator configured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from triadops.domain.errors import InvalidRequest


def allowed_folder(requested: str | None, *, own: Path, extra: Sequence[Path], kind: str) -> Path:
    """Return `requested` (default `own`) resolved, or raise InvalidRequest naming the allowed.

    Symlinks are resolved first, so a link inside an allowed folder cannot lead outside it.
    """
    allowed = [own.resolve(), *(p.resolve() for p in extra)]
    folder = own.resolve() if requested is None else Path(requested).expanduser().resolve()
    if folder not in allowed:
        listed = ", ".join(str(p) for p in dict.fromkeys(allowed))
        raise InvalidRequest(
            f"{kind} folder {requested!r} is not allowed (allowed: {listed})", field="path"
        )
    return folder
