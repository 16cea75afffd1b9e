"""The OpenAI dialect serves tool calls and reasoning as OpenAI does, and refuses bad tool turns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
MODEL = "gpt-5.4-mini"
USER = [{"role": "user", "content": "weather and time please"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "units": {"enum": ["c", "f"]}},
            "required": ["city", "units"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
TOOLS = [WEATHER, TIME]
CALLS = (
    ToolUse("get_weather", {"city": "Paris", "units": "c"}),
    ToolUse("get_time", {"tz": "CET"}),
)
CALL_ID = re.compile(r"^call_[A-Za-z0-9]{24}$")


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def post(emu: ProviderEmulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        emu.url("openai") + "/chat/completions",
        json={"model": MODEL, **body},
        headers={"authorization": "Bearer sk-test"},
    )


def chunks(response: httpx.Response) -> list[Any]:
    """The SSE data payloads, split by hand (the emulator's own framing, not llmorch's decoder)."""
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e[6:] if e == "data: [DONE]" else json.loads(e[6:]) for e in events]


def test_whole_answer_carries_parallel_calls_with_vendor_ids(emu: ProviderEmulator) -> None:
    """tool_calls with call_ + 24 alphanumerics, content null, finish tool_calls."""
    emu.script("openai", MODEL, Reply(tool_calls=CALLS))
    choice = post(emu, {"messages": USER, "tools": TOOLS}).json()["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert ("tool_calls", None) == (choice["finish_reason"], choice["message"]["content"])
    assert [("get_weather", '{"city":"Paris","units":"c"}'), ("get_time", '{"tz":"CET"}')] == [
        (c["function"]["name"], c["function"]["arguments"]) for c in calls
    ]
    assert all(CALL_ID.match(c["id"]) and c["type"] == "function" for c in calls)
    assert calls[0]["id"] != calls[1]["id"]


def test_stream_opens_each_call_then_sends_its_fragments_by_index(emu: ProviderEmulator) -> None:
    """As the recorded stream: open (index, id, name, arguments ""), fragments, next index."""
    emu.script(
        "openai", MODEL, Reply("Checking.", tool_calls=(*CALLS, ToolUse("get_time", id="x")))
    )
    body = {
        "messages": USER,
        "tools": TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    data = chunks(post(emu, body))
    assert "[DONE]" == data[-1] and [] == data[-2]["choices"]
    deltas = [d["choices"][0]["delta"] for d in data[:-2]]
    assert {"role": "assistant", "content": "", "refusal": None} == deltas[0]
    assert "Checking." == "".join(d.get("content") or "" for d in deltas)
    pieces = [call for d in deltas for call in d.get("tool_calls", ())]
    assert [0, 1, 2] == sorted({p["index"] for p in pieces})
    order = [p["index"] for p in pieces]
    assert order == sorted(order)  # one call after another, as OpenAI streams them
    for index, expected in enumerate((*CALLS, ToolUse("get_time", id="x"))):
        mine = [p for p in pieces if p["index"] == index]
        assert {"name": expected.name, "arguments": ""} == mine[0]["function"]
        assert "function" == mine[0]["type"]
        assert expected.arguments_json == "".join(p["function"]["arguments"] for p in mine[1:])
        assert all("id" not in p for p in mine[1:])
    ids = [p["id"] for p in pieces if "id" in p]
    assert CALL_ID.match(ids[0]) and CALL_ID.match(ids[1]) and "x" == ids[2]
    assert "tool_calls" == data[-3]["choices"][0]["finish_reason"]


def test_cut_mid_call_sends_half_the_last_arguments_and_no_finish(emu: ProviderEmulator) -> None:
    """Fault.cut(tool_calls=...): earlier calls whole, the last one half, then the body ends."""
    args = {"city": "Reykjavik", "units": "c", "note": "a long enough argument string"}
    emu.script(
        "openai",
        MODEL,
        Fault.cut(1, "Let me", clean=True, tool_calls=(CALLS[1], ToolUse("get_weather", args))),
    )
    data = chunks(post(emu, {"messages": USER, "tools": TOOLS, "stream": True}))
    assert all(isinstance(d, dict) and d["choices"][0]["finish_reason"] is None for d in data)
    pieces = [c for d in data for c in d["choices"][0]["delta"].get("tool_calls", ())]
    first = "".join(p["function"]["arguments"] for p in pieces if p["index"] == 0)
    last = "".join(p["function"]["arguments"] for p in pieces if p["index"] == 1)
    whole = ToolUse("get_weather", args).arguments_json
    assert CALLS[1].arguments_json == first
    assert 0 < len(last) < len(whole) and whole.startswith(last)


@pytest.mark.parametrize(
    ("choice", "name"),
    [
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ],
)
def test_forced_choice_with_nothing_scripted_calls_the_tool(
    emu: ProviderEmulator, choice: Any, name: str
) -> None:
    """A forced tool_choice makes a call with arguments that satisfy the tool's schema."""
    answer = post(emu, {"messages": USER, "tools": TOOLS, "tool_choice": choice}).json()
    calls = answer["choices"][0]["message"]["tool_calls"]
    expected = {"get_weather": {"city": "x", "units": "c"}, "get_time": {}}[name]
    assert [(name, expected)] == [
        (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls
    ]
    assert "tool_calls" == answer["choices"][0]["finish_reason"]


def test_tool_choice_none_drops_scripted_calls(emu: ProviderEmulator) -> None:
    """With tool_choice none the model answers in text only."""
    emu.script("openai", MODEL, Reply("no tools", tool_calls=CALLS))
    answer = post(emu, {"messages": USER, "tools": TOOLS, "tool_choice": "none"}).json()
    assert ("no tools", "stop") == (
        answer["choices"][0]["message"]["content"],
        answer["choices"][0]["finish_reason"],
    )
    assert "tool_calls" not in answer["choices"][0]["message"]


@pytest.mark.parametrize(
    ("model", "effort", "reasoning"),
    [
        ("gpt-5.4-mini", "high", 3),  # gpt-5.x reasons when asked
        ("gpt-5.4-mini", None, 0),  # its default effort is none
        ("gpt-5.4-mini", "none", 0),
        ("o4-mini", None, 3),  # the o-series always reasons
        ("gpt-5-nano", "minimal", 3),
    ],
)
def test_reasoning_is_counted_never_sent(
    emu: ProviderEmulator, model: str, effort: str | None, reasoning: int
) -> None:
    """No thinking text in Chat Completions; reasoning_tokens counts it when the model thinks."""
    emu.script("openai", model, Reply("Five cents.", reasoning="ball plus bat"))
    body: dict[str, Any] = {"model": model, "messages": USER}
    if effort:
        body["reasoning_effort"] = effort
    answer = post(emu, body).json()
    usage = answer["usage"]
    assert "ball" not in json.dumps(answer)
    assert reasoning == usage["completion_tokens_details"]["reasoning_tokens"]
    assert 2 + reasoning == usage["completion_tokens"]


ASSISTANT_CALLS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": i, "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        for i in ("call_A", "call_B")
    ],
}


def result(call_id: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": "12:00"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def error(message: str, param: str | None, code: str | None = None) -> Any:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


REFUSALS = [
    pytest.param(
        {"messages": [*USER, ASSISTANT_CALLS, result("call_A"), {"role": "user", "content": "?"}]},
        error(
            "An assistant message with 'tool_calls' must be followed by tool messages responding"
            " to each 'tool_call_id'. The following tool_call_ids did not have response messages:"
            " call_B",
            "messages.[3].role",
        ),
        id="unanswered-call",
    ),
    pytest.param(
        {"messages": [*USER, {"role": "assistant", "content": "hi"}, result("call_A")]},
        error(
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            "messages.[2].role",
        ),
        id="result-without-call",
    ),
    pytest.param(
        {"messages": [*USER, ASSISTANT_CALLS, result("call_A"), result("call_Z")]},
        error(
            "Invalid parameter: 'tool_call_id' of 'call_Z' not found in 'tool_calls' of previous"
            " message.",
            "messages.[3].tool_call_id",
        ),
        id="unknown-call-id",
    ),
    pytest.param(
        {"messages": [*USER, {**ASSISTANT_CALLS, "tool_calls": [{"id": "c", "type": "function"}]}]},
        error(
            "Missing required parameter: 'messages[1].tool_calls[0].function'.",
            "messages[1].tool_calls[0].function",
            "missing_required_parameter",
        ),
        id="call-without-function",
    ),
    pytest.param(
        {"messages": USER, "tool_choice": "auto"},
        error(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        ),
        id="choice-without-tools",
    ),
    pytest.param(
        {"messages": USER, "parallel_tool_calls": False},
        error(
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            "parallel_tool_calls",
        ),
        id="parallel-without-tools",
    ),
    pytest.param(
        {"messages": USER, "tools": TOOLS, "tool_choice": "any"},
        error(
            "Invalid value: 'any'. Supported values are: 'none', 'auto', and 'required'.",
            "tool_choice",
            "invalid_value",
        ),
        id="choice-value",
    ),
    pytest.param(
        {
            "messages": USER,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
        error(
            "Invalid value for 'tool_choice': function 'nope' not found in 'tools'.", "tool_choice"
        ),
        id="choice-unknown-function",
    ),
    pytest.param(
        {"messages": USER, "tools": [{"type": "function", "function": {"name": "a b"}}]},
        error(
            "Invalid 'tools[0].function.name': string does not match pattern. Expected a string"
            " that matches the pattern '^[a-zA-Z0-9_-]+$'.",
            "tools[0].function.name",
            "invalid_value",
        ),
        id="tool-name",
    ),
    pytest.param(
        {"messages": USER, "tools": [{"type": "function", "function": {"name": "f", "foo": 1}}]},
        error(
            "Unknown parameter: 'tools[0].function.foo'.",
            "tools[0].function.foo",
            "unknown_parameter",
        ),
        id="tool-unknown-field",
    ),
    pytest.param(
        {"messages": USER, "tools": [{"type": "retrieval"}]},
        error(
            "Invalid value: 'retrieval'. Supported values are: 'function', and 'custom'.",
            "tools[0].type",
            "invalid_value",
        ),
        id="tool-type",
    ),
    pytest.param(
        {
            "messages": USER,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "strict": True,
                        "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                }
            ],
        },
        error(
            "Invalid schema for function 'f': In context=(), 'additionalProperties' is required"
            " to be supplied and to be false.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        id="strict-additional-properties",
    ),
    pytest.param(
        {
            "messages": USER,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "f",
                        "strict": True,
                        "parameters": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["a"],
                            "properties": {
                                "a": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"b": {"type": "string"}},
                                }
                            },
                        },
                    },
                }
            ],
        },
        error(
            "Invalid schema for function 'f': In context=('properties', 'a'), 'required' is "
            "required to be supplied and to be an array including every key in properties. "
            "Missing 'b'.",
            "tools[0].function.parameters",
            "invalid_function_parameters",
        ),
        id="strict-required",
    ),
    pytest.param(
        {"model": "gpt-4.1", "messages": USER, "reasoning_effort": "low"},
        error(
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort",
            "unsupported_parameter",
        ),
        id="effort-on-chat-model",
    ),
    pytest.param(
        {"model": "gpt-5-mini", "messages": USER, "reasoning_effort": "none"},
        error(
            "Unsupported value: 'reasoning_effort' does not support 'none' with this model. "
            "Supported values are: 'minimal', 'low', 'medium', and 'high'.",
            "reasoning_effort",
            "unsupported_value",
        ),
        id="effort-value-for-model",
    ),
    pytest.param(
        {"messages": USER, "max_tokens": 20},
        fixture("error_400_max_tokens_reasoning_model.json"),
        id="max-tokens-on-reasoning-model",
    ),
    pytest.param(
        {"model": "o4-mini", "messages": USER, "temperature": 0.2},
        fixture("error_400_temperature_reasoning_model.json"),
        id="temperature-on-reasoning-model",
    ),
    pytest.param(
        {"messages": USER, "reasoning_effort": "high", "temperature": 0},
        error(
            "Unsupported value: 'temperature' does not support 0 with this model. Only the "
            "default (1) value is supported.",
            "temperature",
            "unsupported_value",
        ),
        id="temperature-while-reasoning",
    ),
    pytest.param(
        {
            "messages": [
                *USER,
                {
                    **ASSISTANT_CALLS,
                    "tool_calls": [
                        {
                            "id": "c" * 41,
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            ]
        },
        error(
            "Invalid 'messages[1].tool_calls[0].id': string too long. Expected a string with "
            "maximum length 40, but got a string with length 41 instead.",
            "messages[1].tool_calls[0].id",
            "string_above_max_length",
        ),
        id="call-id-too-long",
    ),
]


@pytest.mark.parametrize(("body", "expected"), REFUSALS)
def test_bad_tool_turns_get_openai_own_400(
    emu: ProviderEmulator, body: dict[str, Any], expected: Any
) -> None:
    """Each rule answers with OpenAI's status and body."""
    response = post(emu, body)
    assert (400, expected) == (response.status_code, response.json())


def test_recorded_unanswered_calls_body_is_reproduced(emu: ProviderEmulator) -> None:
    """Three unanswered parallel calls get the recorded 400, byte for byte."""
    ids = [
        "call_EqDRPxaGhWV19nTuyZrSlIoH",
        "call_syjPfzWSLIWHdqYegoHBFeOm",
        "call_mJNNMDp8QojFkgGB1qVRUkpO",
    ]
    calls = [
        {"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids
    ]
    history = [
        {"role": "system", "content": "s"},
        *USER,
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "go"},
        {"role": "developer", "content": "be quick"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "user", "content": "well?"},
    ]
    response = post(emu, {"messages": history})
    assert (400, fixture("error_400_tool_calls_without_results.json")) == (
        response.status_code,
        response.json(),
    )


def test_responses_only_model_is_refused_on_chat(emu: ProviderEmulator) -> None:
    """o3-pro and gpt-5-pro serve only the Responses API."""
    response = post(emu, {"model": "gpt-5-pro", "messages": USER})
    assert 404 == response.status_code
    assert "only supported in v1/responses" in response.json()["error"]["message"]


def test_a_whole_tool_loop_is_accepted(emu: ProviderEmulator) -> None:
    """Calls answered by tool messages in order (any order of ids) pass, and the text comes back."""
    emu.script("openai", MODEL, "done")
    history = [*USER, ASSISTANT_CALLS, result("call_B"), result("call_A")]
    answer = post(emu, {"messages": history, "tools": TOOLS, "parallel_tool_calls": True})
    assert ("done", 200) == (answer.json()["choices"][0]["message"]["content"], answer.status_code)
