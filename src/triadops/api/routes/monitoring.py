"""The constitutional health report: host, databases, targets and each branch's figures."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])
