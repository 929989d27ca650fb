"""Alerts and silences: list, show, acknowledge, resolve; inbound alerts (own and Alertmanager)."""

from __future__ import annotations

from fastapi import APIRouter

from triadops.api.schemas import problems

router = APIRouter(tags=["alerts"], responses=problems(401))
