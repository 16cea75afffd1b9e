"""The official openai SDK parses everything the emulator's OpenAI dialect serves."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pydantic
import pytest
import typing_extensions

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.testing._openai_schema import CHAT_REQUEST
from llmorch.testing._strict import Arr, Either, Obj, Tagged
from tests.conformance._bodies import llmorch_bodies
from tests.conformance._typed import check_body, missing

openai = pytest.importorskip("openai")
chat_types = pytest.importorskip("openai.types.chat")
params_types = pytest.importorskip("openai.types.chat.completion_create_params")

MODEL = "gpt-5.4-mini"  # the emulator's default model
MESSAGES: list[Any] = [{"role": "user", "content": "one two three"}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: ProviderEmulator) -> Iterator[Any]:
    with openai.OpenAI(base_url=emu.url("openai"), api_key="sk-emu", max_retries=0) as sdk:
        yield sdk


def test_chat_completion(emu: ProviderEmulator, client: Any) -> None:
    """A completion parses into typed objects with the text, finish reason and usage meant."""
    emu.script("openai", MODEL, Reply("alpha beta gamma"))
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "alpha beta gamma" == completion.choices[0].message.content
    assert "stop" == completion.choices[0].finish_reason
    assert (3, 3, 6) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    )
    assert MODEL == completion.model


def test_length_finish(emu: ProviderEmulator, client: Any) -> None:
    """max_completion_tokens truncates and the SDK reads finish_reason length."""
    emu.script("openai", MODEL, "a b c d")
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=2
    )
    assert ("a b", "length") == (
        completion.choices[0].message.content,
        completion.choices[0].finish_reason,
    )


def test_streaming_with_usage(emu: ProviderEmulator, client: Any) -> None:
    """The SSE stream parses chunk by chunk, with the usage chunk when include_usage is on."""
    emu.script("openai", MODEL, "delta epsilon zeta")
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert "delta epsilon zeta" == text
    assert ["stop"] == finish
    assert [] == chunks[-1].choices
    assert (3, 3) == (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens)


def test_streaming_without_usage_sends_no_usage_chunk(emu: ProviderEmulator, client: Any) -> None:
    """Without include_usage there is no usage chunk, as with the real API."""
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert all(c.choices and c.usage is None for c in stream)


def test_stream_helper_accumulates(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's own stream accumulator builds the final completion from the emulator's chunks."""
    emu.script("openai", MODEL, "one more time")
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert "one more time" == final.choices[0].message.content
    assert 3 == final.usage.completion_tokens


def test_model_listing(emu: ProviderEmulator, client: Any) -> None:
    """The model list parses as Model objects."""
    ids = [m.id for m in client.models.list()]
    assert emu.models("openai") == ids


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.http(400), "BadRequestError", 400),
        (Fault.http(400, error="context_length"), "BadRequestError", 400),
        (Fault.http(401), "AuthenticationError", 401),
        (Fault.http(403), "PermissionDeniedError", 403),
        (Fault.http(404), "NotFoundError", 404),
        (Fault.rate_limit(3), "RateLimitError", 429),
        (Fault.http(429, error="quota"), "RateLimitError", 429),
        (Fault.http(500), "InternalServerError", 500),
        (Fault.overloaded(), "InternalServerError", 503),
    ],
)
def test_scripted_errors(
    emu: ProviderEmulator, client: Any, fault: Fault, error: str, status: int
) -> None:
    """Each scripted error raises the SDK's matching class with status, body and request id."""
    emu.script("openai", MODEL, fault)
    with pytest.raises(getattr(openai, error)) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert status == info.value.status_code
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert isinstance(info.value.body, dict) and info.value.message
    if fault.retry_after is not None:
        assert "3" == info.value.response.headers["retry-after"]


def test_in_stream_error_raises_api_error(emu: ProviderEmulator, client: Any) -> None:
    """An error object inside the stream raises the SDK's APIError after the first chunks."""
    emu.script("openai", MODEL, Fault.stream_error(after=1, error="server_error"))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)


def test_wrong_key_is_401() -> None:
    """With pinned keys, a wrong key gets the vendor's 401."""
    with ProviderEmulator(api_keys={"openai": ["good"]}) as pinned:
        with openai.OpenAI(base_url=pinned.url("openai"), api_key="bad", max_retries=0) as sdk:
            with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
                sdk.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_sdk_extra_body_gets_openai_own_400(emu: ProviderEmulator, client: Any) -> None:
    """A field OpenAI does not define, sent through the SDK's extra_body, is OpenAI's 400."""
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_body={"foo": 1})
    assert {
        "message": "Unrecognized request argument supplied: foo",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    } == info.value.body
    with pytest.raises(openai.BadRequestError, match="expected a decimal") as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature="hot")
    assert ("temperature", "invalid_type") == (info.value.param, info.value.code)


def test_sdk_types_accept_every_body_llmorch_sends(emu: ProviderEmulator) -> None:
    """openai-python's own request TypedDicts type llmorch's bodies, with no undeclared key."""
    for body in llmorch_bodies(emu, "openai", MODEL):
        params = params_types.CompletionCreateParamsStreaming
        if not body.get("stream"):
            params = params_types.CompletionCreateParamsNonStreaming
        check_body(body, params)


def test_emulator_declares_no_field_the_sdk_does_not() -> None:
    """The emulator is not looser than the SDK: its top-level and message fields are the SDK's."""
    assert set(CHAT_REQUEST.fields) == set(
        params_types.CompletionCreateParamsStreaming.__annotations__
    )
    by_role = {
        typing.get_args(typing_extensions.get_type_hints(t)["role"])[0]: t
        for t in typing.get_args(chat_types.ChatCompletionMessageParam)
    }
    messages = CHAT_REQUEST.fields["messages"]
    assert isinstance(messages, Arr) and isinstance(messages.items, Tagged)
    assert set(messages.items.variants) == set(by_role)
    for role, variant in messages.items.variants.items():
        assert set(variant.fields) == set(by_role[role].__annotations__), role


WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}
PARALLEL = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {}))


def _assistant(message: Any) -> dict[str, Any]:
    """The answer as a request message: the fields the SDK's assistant message param declares.

    (The response object also carries ``annotations`` and, from the stream helper, ``parsed``,
    which ``ChatCompletionAssistantMessageParam`` does not declare.)
    """
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
            }
            for c in message.tool_calls
        ],
    }


def _results(message: Any) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": call.id, "content": f"result of {call.function.name}"}
        for call in message.tool_calls
    ]


def test_two_turn_tool_loop(emu: ProviderEmulator, client: Any) -> None:
    """Parallel calls parse into the SDK's typed tool calls; results go back; the answer follows."""
    emu.script("openai", MODEL, Reply(tool_calls=PARALLEL), Reply("Sunny, and noon."))
    tools = [WEATHER_TOOL, TIME_TOOL]
    first = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=tools)
    message = first.choices[0].message
    assert "tool_calls" == first.choices[0].finish_reason
    assert [("get_weather", {"city": "Paris"}), ("get_time", {})] == [
        (c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
    ]
    history = [*MESSAGES, _assistant(message), *_results(message)]
    second = client.chat.completions.create(model=MODEL, messages=history, tools=tools)
    assert ("Sunny, and noon.", "stop") == (
        second.choices[0].message.content,
        second.choices[0].finish_reason,
    )
    sent = emu.requests[-1].body["messages"]
    assert ["user", "assistant", "tool", "tool"] == [m["role"] for m in sent]


def test_streamed_tool_loop_with_the_sdk_stream_helpers(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's stream accumulator parses every call (strict tools: parsed arguments too)."""

    class GetWeather(pydantic.BaseModel):
        city: str

    class GetTime(pydantic.BaseModel):
        tz: str

    calls = (ToolUse("GetWeather", {"city": "Oslo"}), ToolUse("GetTime", {"tz": "CET"}))
    emu.script("openai", MODEL, Reply(tool_calls=calls), Reply("Cold, 13:00."))
    tools = [openai.pydantic_function_tool(GetWeather), openai.pydantic_function_tool(GetTime)]
    with client.chat.completions.stream(model=MODEL, messages=MESSAGES, tools=tools) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert [("GetWeather", GetWeather(city="Oslo")), ("GetTime", GetTime(tz="CET"))] == [
        (c.function.name, c.function.parsed_arguments) for c in message.tool_calls
    ]
    assert [0, 1] == [e.index for e in done]
    history = [*MESSAGES, _assistant(message), *_results(message)]
    with client.chat.completions.stream(model=MODEL, messages=history, tools=tools) as stream:
        text = "".join(e.delta for e in stream if e.type == "content.delta")
    assert "Cold, 13:00." == text


def test_invalid_tool_turn_gets_openai_400(emu: ProviderEmulator, client: Any) -> None:
    """An unanswered call is OpenAI's 400, raised by the SDK as BadRequestError with the body."""
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    history = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=history, tools=[TIME_TOOL])
    assert ("messages.[2].role", None) == (info.value.param, info.value.code)
    assert info.value.message.endswith("did not have response messages: call_1")


_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
TOOL_BODIES_THE_SDK_REFUSES: list[Any] = [
    pytest.param({"tools": [{"type": "function"}]}, id="tool-without-function"),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "f", "strictness": 1}}]},
        id="tool-undeclared-field",
    ),
    pytest.param({"tools": [TIME_TOOL], "tool_choice": {"type": "function"}}, id="choice-no-fn"),
    pytest.param(
        {
            "tools": [TIME_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_time", "x": 1}},
        },
        id="choice-undeclared-field",
    ),
    pytest.param(
        {
            "messages": [
                *MESSAGES,
                {"role": "assistant", "tool_calls": [{**_CALL, "function": {"name": "f"}}]},
            ]
        },
        id="call-without-arguments",
    ),
    pytest.param(
        {
            "messages": [
                *MESSAGES,
                {"role": "assistant", "tool_calls": [_CALL]},
                {"role": "tool", "content": "1"},
            ]
        },
        id="result-without-id",
    ),
    pytest.param(
        {
            "messages": [
                *MESSAGES,
                {"role": "assistant", "tool_calls": [_CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "1", "name": "get_time"},
            ]
        },
        id="result-undeclared-name",
    ),
    pytest.param({"tools": [TIME_TOOL], "parallel_tool_calls": "sometimes"}, id="parallel-type"),
]


@pytest.mark.parametrize("extra", TOOL_BODIES_THE_SDK_REFUSES)
def test_emulator_refuses_tool_bodies_the_sdk_types_refuse(
    emu: ProviderEmulator, extra: dict[str, Any]
) -> None:
    """Where openai-python's request types refuse a tool-shaped body, so does the emulator."""
    body = {"model": MODEL, "messages": MESSAGES, **extra}
    params = params_types.CompletionCreateParamsNonStreaming
    try:
        check_body(body, params)
    except (AssertionError, pydantic.ValidationError):
        pass
    else:
        assert missing(body, params), "the SDK's types accept the body"
    response = httpx.post(
        emu.url("openai") + "/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-emu"},
    )
    assert 400 == response.status_code
    assert "invalid_request_error" == response.json()["error"]["type"]


def test_emulator_tool_fields_are_the_sdk_fields() -> None:
    """Tool definitions, tool choices and assistant tool calls declare exactly the SDK's keys."""
    from openai.types.chat import (
        chat_completion_message_function_tool_call_param as call_param,
    )
    from openai.types.chat import chat_completion_named_tool_choice_param as choice_param
    from openai.types.shared_params import function_definition

    tools = CHAT_REQUEST.fields["tools"]
    assert isinstance(tools, Arr) and isinstance(tools.items, Tagged)
    function_tool = tools.items.variants["function"]
    assert set(function_tool.fields) == set(
        chat_types.ChatCompletionFunctionToolParam.__annotations__
    )
    function = function_tool.fields["function"]
    assert isinstance(function, Obj)
    assert set(function.fields) == set(function_definition.FunctionDefinition.__annotations__)
    choice = CHAT_REQUEST.fields["tool_choice"]
    assert isinstance(choice, Either) and isinstance(choice.options[1], Tagged)
    named = choice.options[1].variants["function"]
    assert set(named.fields) == set(choice_param.ChatCompletionNamedToolChoiceParam.__annotations__)
    messages = CHAT_REQUEST.fields["messages"]
    assert isinstance(messages, Arr) and isinstance(messages.items, Tagged)
    calls = messages.items.variants["assistant"].fields["tool_calls"]
    assert isinstance(calls, Arr) and isinstance(calls.items, Tagged)
    call = calls.items.variants["function"]
    assert set(call.fields) == set(
        call_param.ChatCompletionMessageFunctionToolCallParam.__annotations__
    )
    inner = call.fields["function"]
    assert isinstance(inner, Obj)
    assert set(inner.fields) == set(call_param.Function.__annotations__)


def test_sdk_types_accept_llmorch_tool_and_reasoning_bodies(emu: ProviderEmulator) -> None:
    """The bodies llmorch builds for tools, tool_choice, tool results and reasoning type-check.

    Every body of a tool loop (definitions incl. a strict one, each tool_choice form, the
    parallel switch, assistant calls, tool results, reasoning_effort; plain and streamed)
    validates against openai-python's request TypedDicts with no undeclared or missing key.
    """
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, Tool

    strict = Tool(
        "get_weather",
        "Weather for a city",
        {"type": "object", "properties": {"city": {"type": "string"}, "units": {}}},
        strict=True,
    )
    tools = [strict, TIME_TOOL]
    calls = (ToolUse("get_weather", {"city": "Rome", "units": None}), ToolUse("get_time"))

    async def loop() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": MODEL,
                "providers": {"openai": emu.config_for("openai") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            for choice, streamed in (("auto", False), ("required", True), ("get_time", False)):
                emu.script("openai", MODEL, Reply(tool_calls=calls), Reply("done"))
                history: list[Any] = list(MESSAGES)
                options = {"tools": tools, "tool_choice": choice, "parallel_tool_calls": True}
                options["reasoning"] = {"effort": "low"} if streamed else "high"
                if streamed:
                    stream = orch.send_streaming_request(history, **options)
                    async for _ in stream:
                        pass
                    first = stream.response
                else:
                    first = await orch.send_request(history, **options)
                history += [first.message, *_results_of(first.message)]
                await orch.send_request(history, tools=tools, reasoning="none")

    start = len(emu.requests)
    anyio.run(loop)
    bodies = [r.body for r in emu.requests[start:] if r.method == "POST"]
    assert 6 == len(bodies) and all(isinstance(b, dict) for b in bodies)
    named = {"type": "function", "function": {"name": "get_time"}}
    choices = [b.get("tool_choice") for b in bodies]
    assert "auto" in choices and "required" in choices and named in choices
    assert any(m["role"] == "tool" for b in bodies for m in b["messages"])
    for body in bodies:
        params = params_types.CompletionCreateParamsNonStreaming
        if body.get("stream"):
            params = params_types.CompletionCreateParamsStreaming
        check_body(body, params)
        assert [] == missing(body, params)


def _results_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "tool_call_id": c["id"], "content": "ok"} for c in message["tool_calls"]
    ]
