"""No API dependency runs in FastAPI's thread pool: each would cost a thread hop per request."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _calls(dependant: Dependant) -> list[object]:
    found: list[object] = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found.extend(_calls(sub))
    return found


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found.extend(_api_routes(included.routes))
    return found


def test_every_dependency_of_every_route_is_async(app: FastAPI) -> None:
    sync = set()
    routes = _api_routes(app.routes)
    assert len(routes) > 10, "the walk found too few routes to mean anything"
    for route in routes:
        for call in _calls(route.dependant):
            if call is None or inspect.isclass(call):
                continue  # classes such as HTTPBearer are async callables
            # An instance (HTTPBearer) is called through its class's __call__.
            routine = inspect.isfunction(call) or inspect.ismethod(call)
            target = call if routine else type(call).__call__
            if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
                sync.add(f"{route.path}: {getattr(call, '__qualname__', call)}")
    assert not sync, sorted(sync)
