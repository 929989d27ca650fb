"""The FastAPI floor: the least a FastAPI endpoint costs here, with and without a body.

``POST /alerts`` parses the same body triad's ``POST /alerts`` takes, with the same model.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from triadops.domain.alerts import AlertIn

app = FastAPI()


class Body(BaseModel):
    operation_type: str
    description: str
    steps: list[dict[str, Any]]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/operations", status_code=201)
async def submit(body: Body) -> Body:
    return body


class Alerts(BaseModel):
    alerts: list[AlertIn] = Field(max_length=1000)


@app.post("/alerts")
async def alerts(body: Alerts) -> dict[str, int]:
    return {"received": len(body.alerts)}
