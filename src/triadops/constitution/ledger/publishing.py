"""Publish each new signed checkpoint outside: to a file or a webhook, on the signer's cadence.

The checkpoint log beside the database guards against writers of the database, not of the
data folder: someone who can rewrite both the ledger and the log (and holds the key) leaves
nothing to find. A copy of each signed head published elsewhere (``checkpoint_publish_to``:
a file on other storage, or a webhook another party keeps) outlives such a rewrite: the
copy's heads must still be in the ledger, so ``triad audit verify`` with the copy as its
``checkpoint_log`` finds the rewrite from outside.

Publishing runs after the checkpoint is on disk and recorded, never under the write lock;
a file is appended (the log's format), a webhook gets the checkpoint as JSON in a POST
under ``checkpoint_publish_timeout_s``. A failure is a warning, never fatal, and is not
retried: the next checkpoint, which covers everything before it, is published in its turn.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import structlog

from triadops import httpclient
from triadops.constitution.ledger.checkpoints import append_checkpoint
from triadops.domain.checkpoints import Checkpoint
from triadops.settings import Settings

log = structlog.stdlib.get_logger(__name__)


def where(target: str) -> str:
    """Name a target without what may be secret in it (a URL's path, query or user)."""
    parts = urlsplit(target)
    if parts.scheme == "file":
        return target
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


async def publish_checkpoint(
    settings: Settings,
    checkpoint: Checkpoint,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bool:
    """Publish `checkpoint` where the settings say; True when it was, False otherwise.

    Never raises for the target's sake: a failure is logged with the target's scheme and
    host only (a webhook URL often carries a token).
    """
    target = settings.checkpoint_publish_to
    if target is None:
        return False
    try:
        if target.startswith("file:"):
            path = Path(unquote(urlsplit(target).path))
            await asyncio.to_thread(append_checkpoint, path, checkpoint)
        else:
            await _post(target, checkpoint, settings.checkpoint_publish_timeout_s, transport)
    except (OSError, httpx.HTTPError, _Refused) as exc:
        log.warning(
            "checkpoint not published",
            seq=checkpoint.seq,
            target=where(target),
            reason=_reason(exc, settings.checkpoint_publish_timeout_s),
        )
        return False
    log.info("checkpoint published", seq=checkpoint.seq, target=where(target))
    return True


def _reason(exc: Exception, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return str(exc) if isinstance(exc, _Refused) else f"{type(exc).__name__}: {exc}"


class _Refused(Exception):
    """The webhook answered, but not with a success."""


async def _post(
    url: str,
    checkpoint: Checkpoint,
    timeout_s: float,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    async with (
        asyncio.timeout(timeout_s),  # the whole exchange, not each phase of it
        httpclient.client(timeout=timeout_s, transport=transport) as client,
    ):
        response = await client.post(
            url,
            content=checkpoint.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )
    if not response.is_success:
        raise _Refused(f"answered {response.status_code}")
