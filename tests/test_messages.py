"""Messages v2 (SPEC §2.9): the OpenAI Chat shape, every rule checked with its exact path."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from llmorch import AsyncLLMOrchestrator, InvalidRequestError
from llmorch.messages import ChatMessage, ReasoningItem, TextPart, validate_messages
from llmorch.tools import ToolCall
from tests.conftest import base_config

CALL = {"id": "call_1", "type": "function", "function": {"name": "get", "arguments": '{"a": 1}'}}
ASK = {"role": "user", "content": "weather?"}
CALLS = {"role": "assistant", "content": None, "tool_calls": [CALL]}
RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_a_tool_loop_history_is_typed() -> None:
    """Assistant calls, tool results (with the tool name resolved) and reasoning are typed."""
    reasoning = [
        {"text": "think", "signature": "sig", "provider_type": "anthropic", "model": "m"},
        {
            "text": "",
            "signature": "ts",
            "provider_type": "gemini",
            "model": "g",
            "tool_call_id": "call_1",
        },
    ]
    checked = validate_messages(
        [
            {"role": "developer", "content": "be brief"},
            ASK,
            {**CALLS, "reasoning": reasoning},
            RESULT,
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "It is "}, {"type": "text", "text": "sunny"}],
            },
        ]
    )
    assert checked[0] == ChatMessage("developer", (TextPart("be brief"),))
    assert checked[2].parts == ()
    assert checked[2].tool_calls == (ToolCall("call_1", "get", {"a": 1}, '{"a": 1}'),)
    assert checked[2].reasoning == (
        ReasoningItem("think", "sig", False, "anthropic", "m"),
        ReasoningItem("", "ts", False, "gemini", "g", "call_1"),
    )
    assert (checked[3].role, checked[3].tool_call_id, checked[3].tool_name) == (
        "tool",
        "call_1",
        "get",
    )
    assert checked[4].text == "It is sunny"


def test_malformed_arguments_in_history_are_kept_raw() -> None:
    """A stored call whose arguments are not JSON is kept as sent, with the error noted."""
    bad = {**CALL, "function": {"name": "get", "arguments": "{not json"}}
    checked = validate_messages([ASK, {"role": "assistant", "tool_calls": [bad]}, RESULT])
    call = checked[1].tool_calls[0]
    assert (call.arguments, call.arguments_json) == ({}, "{not json")
    assert call.error is not None and "not valid JSON" in call.error


def test_dict_arguments_are_accepted_as_json() -> None:
    """Arguments given as a dict are serialised (some callers build histories by hand)."""
    call = {**CALL, "function": {"name": "get", "arguments": {"a": 1}}}
    checked = validate_messages([ASK, {"role": "assistant", "tool_calls": [call]}, RESULT])
    assert checked[1].tool_calls[0].arguments_json == '{"a":1}'


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "video", "url": "x"}],
                }
            ],
            "messages[0].content[1].type: unknown part type 'video'",
        ),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}],
                }
            ],
            "messages[0].content[0].image_url.url: not an https or data URL",
        ),
        ([{"role": "user", "content": []}], "messages[0].content: the list of parts is empty"),
        (
            [{"role": "user", "content": [{"type": "text"}]}],
            "messages[0].content[0].text: must be a str",
        ),
        ([ASK, RESULT], "messages[1].tool_call_id: 'call_1' has no tool call"),
        ([ASK, CALLS, RESULT, RESULT], "messages[3].tool_call_id: 'call_1' was already answered"),
        ([ASK, CALLS, ASK], "messages[1].tool_calls[0]: tool call 'call_1' has no tool result"),
        ([ASK, CALLS], "messages[1].tool_calls[0]: tool call 'call_1' has no tool result"),
        (
            [ASK, CALLS, RESULT, {"role": "assistant", "tool_calls": [CALL]}, RESULT],
            "messages[3].tool_calls[0].id: duplicate tool call id 'call_1'",
        ),
        (
            [ASK, {"role": "assistant", "content": None}],
            "messages[1] has no 'content' (and no tool_calls)",
        ),
        (
            [ASK, {"role": "tool", "content": "x"}],
            "messages[1].tool_call_id: must be a non-empty str",
        ),
        ([{**ASK, "tool_call_id": "x"}], "unexpected keys: ['tool_call_id'] (tool_call_id belongs"),
        (
            [ASK, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]}],
            "messages[1].tool_calls[0]: expected",
        ),
        (
            [ASK, {"role": "assistant", "content": "x", "reasoning": [{"text": 1}]}],
            "messages[1].reasoning[0].text: must be a str",
        ),
        (
            [ASK, {"role": "assistant", "content": "x", "reasoning": [{"text": "t", "sig": "s"}]}],
            "messages[1].reasoning[0] has unexpected keys: ['sig']",
        ),
    ],
)
def test_every_rule_names_its_path(messages: list[Any], error: str) -> None:
    """Each violation raises InvalidRequestError naming the exact path of the problem."""
    with pytest.raises(InvalidRequestError) as info:
        validate_messages(messages)
    assert error in str(info.value)


async def test_bad_messages_fail_before_any_network_call() -> None:
    """The orchestrator refuses a bad history (here: a result without its call) without I/O."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("https://api.openai.com/v1/chat/completions").respond(200, json={})
        async with AsyncLLMOrchestrator(base_config()) as orch:
            with pytest.raises(InvalidRequestError, match="has no tool call"):
                await orch.send_request([ASK, RESULT])
            with pytest.raises(InvalidRequestError, match="unknown part type"):
                orch.send_streaming_request([{"role": "user", "content": [{"type": "x"}]}])
    assert route.calls == []
