"""Spans around each branch and each agent call reach an OTLP endpoint, and only one set up.

Run in a child process: tracing is configured once per process, and the other tests must
keep the untraced path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.agents.triad import run_child
from triadops.settings import Settings

pytestmark = pytest.mark.slow

CHILD = """
import asyncio, sys
from tests.agents.triad import YES_EVALUATOR, YES_PLANNER, says, with_agents
from tests.constitution.test_advisors import submit_with
from tests.fixtures.pipeline import request
from triadops import tracing
from triadops.worker.claims import drive_once
from triadops.runtime import Runtime
from triadops.settings import Settings

async def main() -> None:
    print("tracing:", tracing.configure(), flush=True)
    rt = await Runtime.open(Settings(monitor=False))
    powers = with_agents(rt, planner=says(YES_PLANNER), evaluator=says(YES_EVALUATOR))
    op = await submit_with(rt, powers, request(description="SECRET-PROMPT-TEXT"))
    while await drive_once(powers, owner="w"):
        pass
    await rt.close()
    import logfire
    logfire.force_flush()

asyncio.run(main())
"""


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, list[bytes]]]:
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            if self.path == "/v1/traces":
                bodies.append(self.rfile.read(length))
            else:
                self.rfile.read(length)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def span_names(bodies: list[bytes]) -> tuple[list[str], str]:
    names, dump = [], ""
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    names.append(span.name)
                    dump += str(span)
    return names, dump


def test_branch_and_agent_spans_reach_an_otlp_endpoint(settings: Settings) -> None:
    with otlp_receiver() as (endpoint, bodies):
        child = run_child(settings, CHILD, {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
        assert child.returncode == 0, child.stderr
        assert "tracing: True" in child.stdout
    names, dump = span_names(bodies)
    for expected in (
        "legislative: review",
        "legislative: reviewing",
        "executive: scheduled",
        "executive: executing",
        "judicial: validating",
        "agent planner",
        "agent evaluator",
    ):
        assert expected in names, names
    assert any(name.startswith("invoke_agent") or "agent run" in name for name in names), names
    assert "SECRET-PROMPT-TEXT" not in dump  # prompts' contents are not exported


def test_without_an_endpoint_nothing_is_set_up(settings: Settings) -> None:
    child = run_child(settings, CHILD, {})
    assert child.returncode == 0, child.stderr
    assert "tracing: False" in child.stdout
