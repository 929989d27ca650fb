"""The scripted OpenAI server against pydantic-ai's real OpenAI clients, no mocks.

Chat Completions (`OpenAIChatModel`) and the Responses API (`OpenAIResponsesModel`, what
``openai:NAME`` builds).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelRequestTimeout,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
    RunTimedOut,
    UnexpectedModelBehavior,
)
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from tests.agents.openai_server import (
    Reply,
    ScriptedOpenAIServer,
    ToolCall,
    Usage,
    chat_body,
    final_output,
    hang,
    http_error,
    malformed,
    offered_tools,
    responses_body,
    system_text,
    text,
    tool_call,
    tool_calls,
    tool_returns,
    user_text,
)

API_KEY = "sk-test-SECRET"


class Verdict(BaseModel):
    risk: str
    score: int


def chat_model(server: ScriptedOpenAIServer) -> OpenAIChatModel:
    provider = OpenAIProvider(base_url=server.base_url, api_key=API_KEY)
    return OpenAIChatModel("scripted", provider=provider)


def responses_model(server: ScriptedOpenAIServer) -> OpenAIResponsesModel:
    provider = OpenAIProvider(base_url=server.base_url, api_key=API_KEY)
    return OpenAIResponsesModel("scripted", provider=provider)


async def test_structured_output_comes_through_the_output_tool(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(final_output({"risk": "low", "score": 3}, usage=Usage(120, 17)))
    # `async with agent` closes the provider's HTTP client: no ResourceWarning later.
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        result = await agent.run("Judge this change.")

    assert result.output == Verdict(risk="low", score=3)
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (120, 17, 1)
    assert result.response.model_name == "scripted"
    assert result.response.provider_response_id == "chatcmpl-scripted-1"
    [body] = openai_server.requests
    assert body["model"] == "scripted"
    assert offered_tools(body) == ["final_result"]
    assert user_text(body) == "Judge this change."
    # Compare without letting pytest print the key on failure.
    sent_key = openai_server.headers[0].get("authorization") == f"Bearer {API_KEY}"
    assert sent_key, "the server did not see the API key as a bearer token"


async def test_a_tool_call_runs_the_tool_then_the_output(
    openai_server: ScriptedOpenAIServer,
) -> None:
    seen: list[tuple[str, int]] = []

    def service_health(service: str, window_min: int) -> str:
        """Report a service's health over the last minutes."""
        seen.append((service, window_min))
        return f"{service}: 99.9% over {window_min} min"

    openai_server.script(
        tool_call("service_health", {"service": "billing", "window_min": 15}),
        final_output({"risk": "medium", "score": 5}),
    )
    agent = Agent(chat_model(openai_server), output_type=Verdict, tools=[service_health])
    async with agent:
        result = await agent.run("Is billing healthy?")

    assert result.output == Verdict(risk="medium", score=5)
    assert seen == [("billing", 15)]
    first, second = openai_server.requests
    assert sorted(offered_tools(first)) == ["final_result", "service_health"]
    [call] = second["messages"][-2]["tool_calls"]
    [returned] = tool_returns(second)
    assert returned["tool_call_id"] == call["id"]
    assert returned["content"] == "billing: 99.9% over 15 min"
    assert result.usage.requests == 2


async def test_a_503_is_retried_by_the_sdk(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(http_error(503), final_output({"risk": "low", "score": 1}))
    settings = ModelSettings(max_retries=1)
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        result = await agent.run("Judge.", model_settings=settings)

    assert result.output.score == 1
    assert len(openai_server.requests) == 2
    assert openai_server.requests[0] == openai_server.requests[1]


async def test_a_400_is_not_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(http_error(400, "tools[0] is invalid"), final_output({}))
    # The SDK's default of 2 retries applies: a 400 is still sent once.
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelHTTPError) as caught:
            await agent.run("Judge.")

    assert caught.value.status_code == 400
    assert isinstance(caught.value, ModelRequestRejectedError)
    assert caught.value.body == {
        "message": "tools[0] is invalid",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (401, ModelAuthenticationError),
        (429, ModelRateLimitError),
        (500, ModelServerError),
        (503, ModelUnavailableError),
    ],
)
async def test_errors_raise_their_category_when_retries_are_off(
    openai_server: ScriptedOpenAIServer, status: int, category: type[ModelAPIError]
) -> None:
    openai_server.script(http_error(status))
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelHTTPError) as caught:
            await agent.run("Judge.", model_settings=ModelSettings(max_retries=0))

    assert caught.value.status_code == status
    assert isinstance(caught.value, category)
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize(
    ("settings", "run_timeout", "error"),
    [
        (ModelSettings(timeout=0.3, max_retries=0), None, ModelTimeoutError),
        (ModelSettings(request_timeout=0.3), None, ModelRequestTimeout),
        (ModelSettings(), 0.3, RunTimedOut),
    ],
    ids=["sdk-timeout", "request-timeout", "run-timeout"],
)
async def test_a_hang_trips_the_client_timeout_and_the_server_still_stops_fast(
    openai_server: ScriptedOpenAIServer,
    settings: ModelSettings,
    run_timeout: float | None,
    error: type[Exception],
) -> None:
    openai_server.script(hang(30))
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        started = time.monotonic()
        with pytest.raises(error):
            await agent.run("Judge.", model_settings=settings, timeout=run_timeout)
        assert time.monotonic() - started < 1.5

    assert len(openai_server.requests) == 1
    started = time.monotonic()
    await asyncio.to_thread(openai_server.stop)
    assert time.monotonic() - started < 1.0


async def test_a_hang_holds_up_no_other_request(openai_server: ScriptedOpenAIServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if "slow" in user_text(body):
            return hang(0.5, then=text("slow answer"))
        return text("fast answer")

    openai_server.responder = responder
    finished: list[str] = []
    async with Agent(chat_model(openai_server)) as agent:

        async def ask(prompt: str) -> str:
            output = (await agent.run(prompt)).output
            finished.append(output)
            return output

        outputs = await asyncio.gather(ask("slow please"), ask("fast please"))

    assert list(outputs) == ["slow answer", "fast answer"]
    assert finished == ["fast answer", "slow answer"]


async def test_a_responder_answers_from_the_request_and_defers_to_the_queue(
    openai_server: ScriptedOpenAIServer,
) -> None:
    def responder(body: dict[str, Any]) -> Reply | None:
        if "planner" in system_text(body):
            return final_output({"risk": "planned", "score": len(user_text(body))})
        return None

    openai_server.responder = responder
    openai_server.script(text("from the queue"))
    model = chat_model(openai_server)
    planner = Agent(model, output_type=Verdict, system_prompt="You are the planner.")
    chatter = Agent(model, system_prompt="You chat.")
    async with planner, chatter:
        planned = await planner.run("abcd")
        chatted = await chatter.run("hello")

    assert planned.output == Verdict(risk="planned", score=4)
    assert chatted.output == "from the queue"
    assert not openai_server.queue


async def test_an_exhausted_script_answers_500_at_once(openai_server: ScriptedOpenAIServer) -> None:
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelHTTPError) as caught:
            await agent.run("Judge.")

    assert caught.value.status_code == 500
    assert "script ran out" in str(caught.value.body)
    assert len(openai_server.requests) == 1  # x-should-retry: false, so no SDK retry
    assert openai_server.script_errors
    openai_server.script_errors.clear()


async def test_final_output_fails_loudly_without_an_output_tool(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(final_output({"risk": "low", "score": 1}))
    async with Agent(chat_model(openai_server)) as agent:  # text output: no output tool
        with pytest.raises(ModelHTTPError, match="expected one final_result"):
            await agent.run("Judge.")

    assert openai_server.script_errors == [
        "expected one final_result* output tool, the request offers []"
    ]
    openai_server.script_errors.clear()


async def test_invalid_output_is_sent_back_then_gives_up(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(
        final_output({"risk": "low", "score": "not a number"}),
        final_output({"risk": "low", "score": 2}),
    )
    async with Agent(chat_model(openai_server), output_type=Verdict, retries=1) as agent:
        result = await agent.run("Judge.")
        assert result.output.score == 2
        [retry] = tool_returns(openai_server.requests[1])
        assert "score" in retry["content"]

        openai_server.script(*[final_output({"risk": "low"})] * 2)
        with pytest.raises(UnexpectedModelBehavior, match="retries"):
            await agent.run("Judge.")


async def test_a_malformed_body_raises_a_model_api_error(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(malformed())
    async with Agent(chat_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelAPIError, match="decode"):
            await agent.run("Judge.")

    assert len(openai_server.requests) == 1


async def test_streamed_text_and_output(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(
        text("streamed words arrive", usage=Usage(9, 3)),
        final_output({"risk": "high", "score": 9}),
    )
    model = chat_model(openai_server)
    async with Agent(model) as agent, agent.run_stream("Say it.") as streamed:
        words = await streamed.get_output()
    async with (
        Agent(model, output_type=Verdict) as judge,
        judge.run_stream("Judge.") as judged,
    ):
        verdict = await judged.get_output()

    assert words == "streamed words arrive"
    assert verdict == Verdict(risk="high", score=9)
    assert all(body["stream"] for body in openai_server.requests)


def test_the_models_endpoint_lists_the_scripted_model(
    openai_server: ScriptedOpenAIServer,
) -> None:
    listing = httpx.get(f"{openai_server.base_url}/models").json()
    assert [m["id"] for m in listing["data"]] == ["scripted"]
    assert openai_server.requests == []


# -- the Responses API ------------------------------------------------------------------


async def test_responses_structured_output_comes_through_the_output_tool(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(final_output({"risk": "low", "score": 3}, usage=Usage(120, 17)))
    agent = Agent(responses_model(openai_server), output_type=Verdict, instructions="Be fair.")
    async with agent:
        result = await agent.run("Judge this change.")

    assert result.output == Verdict(risk="low", score=3)
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.requests) == (120, 17, 1)
    assert result.response.model_name == "scripted"
    assert result.response.provider_response_id == "resp_scripted_1"
    assert result.response.finish_reason == "stop"
    [body] = openai_server.requests
    assert body["model"] == "scripted"
    assert offered_tools(body) == ["final_result"]
    assert system_text(body) == "Be fair."
    assert user_text(body) == "Judge this change."
    sent = responses_body(body)
    assert sent is not None
    assert (sent["instructions"], sent["input"]) == (
        "Be fair.",
        [{"role": "user", "content": "Judge this change."}],
    )
    assert [t["name"] for t in sent["tools"]] == ["final_result"]
    sent_key = openai_server.headers[0].get("authorization") == f"Bearer {API_KEY}"
    assert sent_key, "the server did not see the API key as a bearer token"


async def test_responses_a_tool_call_runs_the_tool_then_the_output(
    openai_server: ScriptedOpenAIServer,
) -> None:
    seen: list[tuple[str, int]] = []

    def service_health(service: str, window_min: int) -> str:
        """Report a service's health over the last minutes."""
        seen.append((service, window_min))
        return f"{service}: 99.9% over {window_min} min"

    openai_server.script(
        tool_call("service_health", {"service": "billing", "window_min": 15}),
        final_output({"risk": "medium", "score": 5}),
    )
    agent = Agent(responses_model(openai_server), output_type=Verdict, tools=[service_health])
    async with agent:
        result = await agent.run("Is billing healthy?")

    assert result.output == Verdict(risk="medium", score=5)
    assert seen == [("billing", 15)]
    first, second = openai_server.requests
    assert sorted(offered_tools(first)) == ["final_result", "service_health"]
    [call] = second["messages"][-2]["tool_calls"]
    assert call["function"]["name"] == "service_health"
    [returned] = tool_returns(second)
    assert returned["tool_call_id"] == call["id"]
    assert returned["content"] == "billing: 99.9% over 15 min"
    sent = responses_body(second)
    assert sent is not None
    assert [item.get("type", "message") for item in sent["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert sent["input"][-1]["call_id"] == call["id"]
    assert result.usage.requests == 2


async def test_responses_text_several_calls_and_native_output(
    openai_server: ScriptedOpenAIServer,
) -> None:
    def service_health(service: str) -> str:
        """Report a service's health."""
        return f"{service}: ok"

    openai_server.script(
        tool_calls(
            ToolCall("service_health", {"service": "a"}),
            ToolCall("service_health", {"service": "b"}),
            content="checking both",
        ),
        text("both are fine"),
        final_output({"risk": "low", "score": 1}),
    )
    model = responses_model(openai_server)
    async with (
        Agent(model, tools=[service_health]) as chatter,
        Agent(model, output_type=NativeOutput(Verdict)) as judge,
    ):
        chatted = await chatter.run("Check a and b.")
        judged = await judge.run("Judge.")

    assert chatted.output == "both are fine"
    assert judged.output == Verdict(risk="low", score=1)
    second = openai_server.requests[1]
    [assistant] = [m for m in second["messages"] if m["role"] == "assistant"]
    assert assistant["content"] == "checking both"
    assert [c["id"] for c in assistant["tool_calls"]] == [
        r["tool_call_id"] for r in tool_returns(second)
    ]
    native = openai_server.requests[2]
    assert offered_tools(native) == []
    assert native["response_format"]["type"] == "json_schema"


async def test_responses_a_503_is_retried_by_the_sdk(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(http_error(503), final_output({"risk": "low", "score": 1}))
    settings = ModelSettings(max_retries=1)
    async with Agent(responses_model(openai_server), output_type=Verdict) as agent:
        result = await agent.run("Judge.", model_settings=settings)

    assert result.output.score == 1
    assert len(openai_server.requests) == 2
    assert openai_server.requests[0] == openai_server.requests[1]


async def test_responses_a_400_is_not_retried(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(http_error(400, "tools[0] is invalid"), final_output({}))
    async with Agent(responses_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelHTTPError) as caught:
            await agent.run("Judge.")

    assert caught.value.status_code == 400
    assert isinstance(caught.value, ModelRequestRejectedError)
    assert caught.value.body == {
        "message": "tools[0] is invalid",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert len(openai_server.requests) == 1


async def test_responses_a_malformed_body_and_a_hang_fail_the_run(
    openai_server: ScriptedOpenAIServer,
) -> None:
    openai_server.script(malformed(), hang(30))
    async with Agent(responses_model(openai_server), output_type=Verdict) as agent:
        with pytest.raises(ModelAPIError, match="decode"):
            await agent.run("Judge.")
        started = time.monotonic()
        with pytest.raises(ModelTimeoutError):
            await agent.run("Judge.", model_settings=ModelSettings(timeout=0.3, max_retries=0))
        assert time.monotonic() - started < 1.5

    assert len(openai_server.requests) == 2


async def test_responses_streaming_is_refused_loudly(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text("never sent"))
    async with Agent(responses_model(openai_server)) as agent:
        with pytest.raises(ModelHTTPError) as caught:
            async with agent.run_stream("Say it."):
                pass

    assert caught.value.status_code == 500
    assert openai_server.script_errors == [
        "the scripted server does not stream Responses API answers"
    ]
    openai_server.script_errors.clear()
    assert len(openai_server.queue) == 1  # the script was left alone


def test_chat_body_reads_every_responses_item_kind() -> None:
    sent = {
        "model": "m",
        "instructions": "Rules.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Dev."}],
            },
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": False}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_object"}},
    }
    body = chat_body(sent)

    assert body["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "developer", "content": [{"type": "text", "text": "Dev."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    assert system_text(body) == "Rules.\nDev."
    assert user_text(body) == "Hi"
    assert body["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {}, "strict": False}}
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["response_format"] == {"type": "json_object"}
    assert responses_body(body) is sent
    assert responses_body({"messages": []}) is None
