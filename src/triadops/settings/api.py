"""The API section: where ``triad serve`` listens and what it reads."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ApiSettings(BaseModel):
    """Where the API listens, what it reads, and how long it waits for its worker."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """Largest request body the API reads, in bytes; a larger one is refused with 413."""
    api_worker_grace_s: float = Field(default=10.0, gt=0, le=600)
    """On shutdown, how long the server's own worker may take to stop before it is cancelled."""
    console_verify_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """How long the console's "Verify now" may replay the ledger before it gives up, in
    seconds, so a huge ledger cannot hold the request (``triad audit verify`` has no limit)."""
