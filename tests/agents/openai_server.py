"""A real OpenAI-compatible server that answers from a script, over both OpenAI APIs.

It runs uvicorn in a thread of its own on a free port of 127.0.0.1, so a test (sync or
async, or a CLI it drives with its own event loop) can point a real OpenAI client at
`base_url`. It serves Chat Completions (``POST /v1/chat/completions``, streamed or not)
and the Responses API (``POST /v1/responses``, not streamed: pydantic-ai's
`OpenAIResponsesModel` streams only for `run_stream`, an `event_stream_handler`, its
WebSocket transport or a stream-only profile such as Codex's, none of which triadops uses).

Every request of either API lands in `requests`, in order, as a Chat Completions body:
a Responses request is normalised into one (`instructions` and system/developer items
become system/developer messages, `function_call` items an assistant message's
`tool_calls`, `function_call_output` items `tool` messages, tools and `text.format` their
chat forms) with the body as sent kept under ``"_responses"`` (see `responses_body`). So
responders and the helpers below (`system_text`, `user_text`, `offered_tools`,
`output_tool_name`, `tool_returns`) read both APIs alike. `headers` holds each request's
headers, at the same index.

Replies come from a `responder` callable when one is set (it may return None to defer to
the queue), else from a queue consumed in order:

    server.script(final_output({"answer": 42}))
    server.responder = lambda body: text("hi") if "hello" in user_text(body) else None

A reply is given in the shape of the API asked: a chat completion, or a Responses
`response` whose `output` holds a `message` item (`output_text`) and/or `function_call`
items. Errors, hangs and malformed bodies are the same on both paths.

When neither has a reply, or the script itself fails (e.g. `final_output` for a request
offering no output tool, or a streamed Responses request), the server answers 500 with
``x-should-retry: false`` (so the OpenAI SDK does not retry it) and records the problem
in `script_errors`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeAlias

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

OUTPUT_TOOL_PREFIX = "final_result"
"""pydantic-ai's structured output tool is `final_result` (or `final_result_<Type>` for a union)."""


@dataclass(frozen=True)
class Usage:
    """Token counts for one reply; `total_tokens` is their sum."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Text:
    """An assistant message with plain text content (finish_reason `stop`)."""

    content: str
    usage: Usage | None = None


@dataclass(frozen=True)
class ToolCall:
    """One function call; `arguments` given as a string is sent as is (it may be invalid JSON)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCalls:
    """An assistant message calling one or more tools (finish_reason `tool_calls`)."""

    calls: tuple[ToolCall, ...]
    content: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class FinalOutput:
    """A call to the request's output tool with `args`, resolved when the request arrives.

    `tool` names the output tool when the request offers several (an output type union).
    A request that asks for native structured output (`response_format`) instead gets
    `args` as JSON text content.
    """

    args: dict[str, Any]
    tool: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with an OpenAI-style error body."""

    status: int
    message: str
    type: str
    code: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hang:
    """Wait `seconds` before answering `then` (None: the script's next reply).

    The wait holds no other request up, and ends at once when the server stops (the
    request is then answered 503 and the script is left alone).
    """

    seconds: float
    then: Reply | None = None


@dataclass(frozen=True)
class Malformed:
    """A raw body sent as is, e.g. broken JSON under a 200."""

    body: str
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Huge:
    """A 200 whose body is `size` bytes, sent in chunks as the client reads them.

    With `announce`, the body's length is sent first (``Content-Length``); without, it is
    streamed chunked and the client learns its size only by reading. The server counts
    what it managed to send in `ScriptedOpenAIServer.huge_bytes_sent`.
    """

    size: int
    announce: bool = False
    chunk: int = 64 * 1024


Reply: TypeAlias = Text | ToolCalls | FinalOutput | HttpError | Hang | Malformed | Huge
Responder: TypeAlias = Callable[[dict[str, Any]], Reply | None]


def text(content: str, *, usage: Usage | None = None) -> Text:
    """A plain text answer."""
    return Text(content, usage)


def tool_call(
    name: str, arguments: dict[str, Any] | str | None = None, *, usage: Usage | None = None
) -> ToolCalls:
    """An answer calling one tool."""
    return ToolCalls((ToolCall(name, {} if arguments is None else arguments),), usage=usage)


def tool_calls(
    *calls: ToolCall, content: str | None = None, usage: Usage | None = None
) -> ToolCalls:
    """An answer calling several tools at once."""
    return ToolCalls(tuple(calls), content, usage)


def final_output(
    args: dict[str, Any], *, tool: str | None = None, usage: Usage | None = None
) -> FinalOutput:
    """An answer calling the request's output tool (`final_result...`) with `args`."""
    return FinalOutput(args, tool, usage)


_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def http_error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    retry_after_ms: int | None = 10,
    headers: dict[str, str] | None = None,
) -> HttpError:
    """An error answer; `type` and `code` default to what OpenAI sends for the status.

    `retry_after_ms` is sent as the ``retry-after-ms`` header, which the OpenAI SDK obeys
    when it retries (408, 409, 429 and 5xx), so retries in tests take milliseconds; None
    leaves it out and the SDK backs off on its own (about 0.5 s, then 1 s, ...).
    """
    default_type, default_code = _ERROR_KINDS.get(
        status, ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    all_headers = dict(headers or {})
    if retry_after_ms is not None:
        all_headers.setdefault("retry-after-ms", str(retry_after_ms))
    return HttpError(
        status,
        message or f"scripted error {status}",
        type or default_type,
        code if code is not None else default_code,
        tuple(all_headers.items()),
    )


AUTHORIZATION = "<<authorization>>"
"""In a reply's text or arguments, replaced by the request's ``Authorization`` header, as an
endpoint that echoes what it was sent would answer."""


def _echoed(value: Any, authorization: str) -> Any:
    if isinstance(value, str):
        return value.replace(AUTHORIZATION, authorization)
    if isinstance(value, dict):
        return {k: _echoed(v, authorization) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_echoed(v, authorization) for v in value)
    return value


def with_headers_echoed(reply: Reply, headers: dict[str, str]) -> Reply:
    """`reply` with `AUTHORIZATION` replaced by the request's header wherever it appears."""
    said = headers.get("authorization", "")
    if isinstance(reply, Text):
        return dataclasses.replace(reply, content=_echoed(reply.content, said))
    if isinstance(reply, FinalOutput):
        return dataclasses.replace(reply, args=_echoed(reply.args, said))
    if isinstance(reply, ToolCalls):
        calls = tuple(
            dataclasses.replace(c, arguments=_echoed(c.arguments, said)) for c in reply.calls
        )
        return dataclasses.replace(reply, calls=calls, content=_echoed(reply.content, said))
    return reply


def huge(size: int, *, announce: bool = False) -> Huge:
    """A 200 of `size` bytes (announced by ``Content-Length``, or streamed chunked)."""
    return Huge(size, announce)


def hang(seconds: float, then: Reply | None = None) -> Hang:
    """Answer only after `seconds` (to trip a client's timeout)."""
    return Hang(seconds, then)


def malformed(
    body: str = '{"id": "chatcmpl-broken", "choices": [', *, status: int = 200
) -> Malformed:
    """A 200 whose body is not valid JSON (or whatever `body` is)."""
    return Malformed(body, status)


class ScriptError(Exception):
    """The script could not answer a request; the server answers 500 and records it."""


def offered_tools(body: dict[str, Any]) -> list[str]:
    """The names of the function tools a request offers."""
    return [t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"]


def output_tool_name(body: dict[str, Any], tool: str | None = None) -> str:
    """The name of the request's output tool; raises ScriptError if there is not exactly one."""
    names = [n for n in offered_tools(body) if n.startswith(OUTPUT_TOOL_PREFIX)]
    if tool is not None:
        if tool not in names:
            raise ScriptError(f"the request offers no output tool {tool!r}, only {names}")
        return tool
    if len(names) != 1:
        raise ScriptError(
            f"expected one {OUTPUT_TOOL_PREFIX}* output tool, the request offers "
            f"{offered_tools(body)}"
        )
    return names[0]


def message_text(message: dict[str, Any]) -> str:
    """A message's text content (the text parts joined when it has several)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def messages_text(body: dict[str, Any], *roles: str) -> str:
    """The text of the request's messages with one of `roles`, joined by newlines."""
    return "\n".join(message_text(m) for m in body.get("messages", []) if m.get("role") in roles)


def system_text(body: dict[str, Any]) -> str:
    """The request's system (or developer) prompt text."""
    return messages_text(body, "system", "developer")


def user_text(body: dict[str, Any]) -> str:
    """The text of the request's user messages."""
    return messages_text(body, "user")


def tool_returns(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's tool-result messages (role `tool`), in order."""
    return [m for m in body.get("messages", []) if m.get("role") == "tool"]


def _word_count(value: str) -> int:
    return len(value.split())


def _computed_usage(body: dict[str, Any], completion: str) -> Usage:
    """Counts derived from the request and reply: words, plus one per message."""
    messages = body.get("messages", [])
    prompt = sum(_word_count(message_text(m)) + 1 for m in messages)
    return Usage(max(prompt, 1), max(_word_count(completion), 1))


RESPONSES_KEY = "_responses"
"""Where a normalised Responses request keeps the body as it was sent."""


def responses_body(body: dict[str, Any]) -> dict[str, Any] | None:
    """The Responses API body a request was normalised from; None for a chat request."""
    return body.get(RESPONSES_KEY)


def _chat_content(content: Any) -> Any:
    """Responses message content in chat form: text parts become ``{"type": "text"}``."""
    if not isinstance(content, list):
        return content
    parts: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        else:
            parts.append(part)
    return parts


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Responses tool in chat form; a non-function (native) tool is kept as is."""
    if tool.get("type") != "function":
        return tool
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _chat_response_format(text_config: Any) -> dict[str, Any] | None:
    """`text.format` in chat's `response_format` form; None for plain text."""
    fmt = (text_config or {}).get("format") if isinstance(text_config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_schema":
        schema = {k: v for k, v in fmt.items() if k != "type"}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt["type"]}


def chat_body(responses: dict[str, Any]) -> dict[str, Any]:
    """The Chat Completions body a Responses API request amounts to (see the module doc).

    Consecutive `function_call` items join one assistant message, after any assistant
    text just before them, as Chat Completions sends them; reasoning and other items the
    chat form has no place for are only in the body kept under `RESPONSES_KEY`.
    """
    messages: list[dict[str, Any]] = []
    instructions = responses.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    items = responses.get("input", [])
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    joinable = False  # whether a function call may join the last (assistant) message
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            message = {"role": item["role"], "content": _chat_content(item.get("content"))}
            messages.append(message)
            joinable = item["role"] == "assistant"
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item.get("arguments", "")},
            }
            if not joinable:
                messages.append({"role": "assistant", "content": None})
            messages[-1].setdefault("tool_calls", []).append(call)
            joinable = True
        elif kind == "function_call_output":
            output = _chat_content(item.get("output"))
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
            joinable = False
        else:
            joinable = False
    body: dict[str, Any] = {"model": responses.get("model"), "messages": messages}
    if responses.get("tools"):
        body["tools"] = [_chat_tool(t) for t in responses["tools"]]
    choice = responses.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        body["tool_choice"] = choice
    if (response_format := _chat_response_format(responses.get("text"))) is not None:
        body["response_format"] = response_format
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        if key in responses:
            body[key] = responses[key]
    if "max_output_tokens" in responses:
        body["max_completion_tokens"] = responses["max_output_tokens"]
    body[RESPONSES_KEY] = responses
    return body


class ScriptedOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 that answers from a script, over both APIs.

    Use it as a context manager (or `start()` / `stop()`); `base_url` ends in ``/v1``.
    """

    def __init__(self, *, models: tuple[str, ...] = ("scripted",)) -> None:
        self.models = models
        self.requests: list[dict[str, Any]] = []
        """Every request body of either API, in the order received, in chat form.

        A Responses API request is its `chat_body`: the body as sent is under `"_responses"`.
        """
        self.headers: list[dict[str, str]] = []
        """The headers of each request in `requests`, names lower-cased."""
        self.queue: deque[Reply] = deque()
        """Replies still to give, in order (when no responder answers)."""
        self.responder: Responder | None = None
        """Decides the reply from the request body; wins over the queue unless it returns None."""
        self.huge_bytes_sent = 0
        """Bytes of `Huge` bodies handed to the connection so far (the client read at most
        these, plus what the sockets buffer)."""
        self.script_errors: list[str] = []
        """Why the script failed to answer a request (the server answered 500 each time)."""
        self._lock = threading.Lock()
        self._completion_ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._response_ids = itertools.count(1)
        self._item_ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- scripting ----------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue `replies`, to be given in order after those already queued."""
        with self._lock:
            self.queue.extend(replies)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._port is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running")
        return self._port

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        """Listen on a free port and return once the server answers."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="critical",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        self._stopping.clear()
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="scripted-openai-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                self._thread = self._server = None
                raise RuntimeError("the scripted OpenAI server did not start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the scripted OpenAI server did not start in {timeout_s} s")
            time.sleep(0.005)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        response = httpx.get(f"{self.base_url}/models", timeout=timeout_s)
        response.raise_for_status()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop listening; hung requests end at once. Does nothing when not running."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout_s)
        alive = self._thread.is_alive()
        self._server = self._thread = None
        self._port = None
        if alive:
            raise RuntimeError(f"the scripted OpenAI server did not stop in {timeout_s} s")

    def __enter__(self) -> ScriptedOpenAIServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- endpoints ----------------------------------------------------------------------

    async def _models(self, request: Request) -> Response:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "tests"} for m in self.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        return await self._serve(request, "chat")

    async def _responses(self, request: Request) -> Response:
        return await self._serve(request, "responses")

    async def _serve(self, request: Request, api: Literal["chat", "responses"]) -> Response:
        raw = await request.body()
        try:
            sent = json.loads(raw)
        except ValueError:
            return _error_response(HttpError(400, "the request body is not JSON", "invalid_json"))
        if not isinstance(sent, dict):
            return _error_response(HttpError(400, "the request body is not an object", "invalid"))
        body, problem = sent, None
        if api == "responses":
            try:
                body = chat_body(sent)
            except Exception as e:
                body, problem = {RESPONSES_KEY: sent}, f"cannot read the Responses request: {e!r}"
            if sent.get("stream"):
                problem = "the scripted server does not stream Responses API answers"
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
        try:
            if problem is not None:
                raise ScriptError(problem)
            reply = self._next_reply(body)
            while isinstance(reply, Hang):
                if await self._wait(reply.seconds):
                    stopping = "the scripted server is shutting down"
                    return _error_response(
                        HttpError(503, stopping, "server_error", None, _NO_RETRY)
                    )
                reply = reply.then if reply.then is not None else self._next_reply(body)
            reply = with_headers_echoed(reply, headers)
            if isinstance(reply, Huge):
                return self._huge(reply, request)
            if api == "responses":
                return self._answer_responses(body, reply)
            return self._answer(body, reply)
        except Exception as e:
            problem = str(e) if isinstance(e, ScriptError) else f"the script failed: {e!r}"
            with self._lock:
                self.script_errors.append(problem)
            return _error_response(HttpError(500, problem, "script_error", headers=_NO_RETRY))

    def _huge(self, reply: Huge, request: Request) -> Response:
        head = b'{"id": "chatcmpl-huge", "object": "chat.completion", "choices": [{"text": "'
        filler = b"x" * reply.chunk

        async def body() -> AsyncIterator[bytes]:
            left = reply.size - len(head)
            yield head
            self.huge_bytes_sent += len(head)
            while left > 0:
                # Once the client hangs up, uvicorn drops what it is handed: stop counting.
                if await request.is_disconnected():
                    return
                piece = filler[: min(left, reply.chunk)]
                yield piece
                self.huge_bytes_sent += len(piece)
                left -= len(piece)

        headers = {"content-length": str(reply.size)} if reply.announce else None
        return StreamingResponse(body(), media_type="application/json", headers=headers)

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        if self.responder is not None:
            try:
                reply = self.responder(body)
            except ScriptError:
                raise
            except Exception as e:
                raise ScriptError(f"the responder raised {e!r}") from e
            if reply is not None:
                return reply
        with self._lock:
            if self.queue:
                return self.queue.popleft()
        raise ScriptError(
            f"the script ran out: no reply left for request #{len(self.requests)} "
            f"(model {body.get('model')!r})"
        )

    async def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the server began stopping meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._stopping.is_set():
                return True
            await asyncio.sleep(min(0.02, max(deadline - time.monotonic(), 0)))
        return self._stopping.is_set()

    def _answer(self, body: dict[str, Any], reply: Reply) -> Response:
        early = _not_a_message(reply)
        if early is not None:
            return early
        message, finish_reason, usage = self._message(body, reply)
        completion_id = f"chatcmpl-scripted-{next(self._completion_ids)}"
        model = str(body.get("model", ""))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _stream_chunks(
                completion_id, model, message, finish_reason, usage if include_usage else None
            )
            return StreamingResponse(_sse(chunks), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": usage.as_json(),
            }
        )

    def _answer_responses(self, body: dict[str, Any], reply: Reply) -> Response:
        """Answer a Responses API request (normalised to `body`) with a `response` object."""
        early = _not_a_message(reply)
        if early is not None:
            return early
        message, _, usage = self._message(body, reply)
        output: list[dict[str, Any]] = []
        if message.get("content") or not message.get("tool_calls"):
            content = {
                "type": "output_text",
                "text": message.get("content") or "",
                "annotations": [],
                "logprobs": [],
            }
            output.append(
                {
                    "id": f"msg_scripted_{next(self._item_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [content],
                }
            )
        for call in message.get("tool_calls", []):
            output.append(
                {
                    "id": f"fc_scripted_{next(self._item_ids)}",
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                }
            )
        sent = responses_body(body) or {}
        now = int(time.time())
        return JSONResponse(
            {
                "id": f"resp_scripted_{next(self._response_ids)}",
                "object": "response",
                "created_at": now,
                "completed_at": now,
                "status": "completed",
                "background": False,
                "error": None,
                "incomplete_details": None,
                "instructions": sent.get("instructions"),
                "max_output_tokens": sent.get("max_output_tokens"),
                "metadata": sent.get("metadata") or {},
                "model": str(sent.get("model", "")),
                "output": output,
                "parallel_tool_calls": sent.get("parallel_tool_calls", True),
                "previous_response_id": sent.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "default",
                "store": sent.get("store", True),
                "temperature": sent.get("temperature", 1.0),
                "text": sent.get("text") or {"format": {"type": "text"}},
                "tool_choice": sent.get("tool_choice", "auto"),
                "tools": sent.get("tools", []),
                "top_p": sent.get("top_p", 1.0),
                "truncation": sent.get("truncation", "disabled"),
                "usage": {
                    "input_tokens": usage.prompt_tokens,
                    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                    "output_tokens": usage.completion_tokens,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": usage.total_tokens,
                },
                "user": None,
            }
        )

    def _message(
        self, body: dict[str, Any], reply: Text | ToolCalls | FinalOutput
    ) -> tuple[dict[str, Any], str, Usage]:
        """The assistant message, its finish reason and its usage."""
        if isinstance(reply, FinalOutput):
            if not offered_tools(body) and (body.get("response_format") or {}).get("type") in (
                "json_schema",
                "json_object",
            ):
                reply = Text(json.dumps(reply.args), reply.usage)
            else:
                name = output_tool_name(body, reply.tool)
                reply = ToolCalls((ToolCall(name, reply.args),), usage=reply.usage)
        if isinstance(reply, Text):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content}
            usage = reply.usage or _computed_usage(body, reply.content)
            return message, "stop", usage
        calls: list[dict[str, Any]] = []
        arguments: list[str] = []
        for call in reply.calls:
            encoded = (
                call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            )
            arguments.append(encoded)
            calls.append(
                {
                    "id": f"call_scripted_{next(self._call_ids)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": encoded},
                }
            )
        message = {"role": "assistant", "content": reply.content, "tool_calls": calls}
        completion = " ".join([*arguments, reply.content or ""])
        return message, "tool_calls", reply.usage or _computed_usage(body, completion)


_NO_RETRY = (("x-should-retry", "false"),)
"""The header that tells the OpenAI SDK not to retry an answer."""


def _not_a_message(reply: Reply) -> Response | None:
    """The answer to an error or a malformed reply, the same on both APIs; None otherwise."""
    if isinstance(reply, HttpError):
        return _error_response(reply)
    if isinstance(reply, Malformed):
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
    if isinstance(reply, Hang):  # resolved by the caller
        raise ScriptError("a hang cannot be answered directly")
    return None


def _error_response(error: HttpError) -> JSONResponse:
    payload = {
        "error": {"message": error.message, "type": error.type, "param": None, "code": error.code}
    }
    return JSONResponse(payload, status_code=error.status, headers=dict(error.headers))


def _stream_chunks(
    completion_id: str,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: Usage | None,
) -> list[dict[str, Any]]:
    """The chunks of a streamed answer: role, content in two pieces, tool calls, end, usage."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    content = message.get("content") or ""
    half = len(content) // 2
    chunks += [chunk({"content": piece}) for piece in (content[:half], content[half:]) if piece]
    for index, call in enumerate(message.get("tool_calls", [])):
        start = {"name": call["function"]["name"], "arguments": ""}
        opening = {"index": index, "id": call["id"], "type": "function", "function": start}
        arguments = {"index": index, "function": {"arguments": call["function"]["arguments"]}}
        chunks += [chunk({"tool_calls": [opening]}), chunk({"tool_calls": [arguments]})]
    chunks.append(chunk({}, finish_reason))
    if usage is not None:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage.as_json()
        chunks.append(last)
    return chunks


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[str]:
    for c in chunks:
        yield f"data: {json.dumps(c)}\n\n"
    yield "data: [DONE]\n\n"
