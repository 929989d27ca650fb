"""The FastAPI floor: the least a FastAPI endpoint costs here, with and without a body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

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
