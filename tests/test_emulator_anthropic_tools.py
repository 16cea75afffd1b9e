"""The Anthropic dialect serves tool calls and thinking the API's way and refuses bad tool turns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.testing._signing import sign

CLAUDE = "claude-haiku-5-5"
FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
ASK = [{"role": "user", "content": "weather and time in Paris?"}]
BASE: dict[str, Any] = {"model": CLAUDE, "max_tokens": 2000, "messages": ASK}
THINK = {"type": "enabled", "budget_tokens": 1024}
DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
CONSIDERATIONS = f"{DOCS}#important-considerations-when-using-extended-thinking"


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def post(emu: ProviderEmulator, body: dict[str, Any], version: str = "2023-06-01") -> Any:
    headers = {"x-api-key": "k", "anthropic-version": version}
    response = httpx.post(emu.url("anthropic") + "/v1/messages", json=body, headers=headers)
    return response.status_code, response.json() if not body.get("stream") else response.text


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def thinking_block(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": text, "signature": sign("anthropic-thinking", text)}


def loop(*assistant: dict[str, Any], results: list[Any] | None = None) -> list[dict[str, Any]]:
    """ASK, an assistant turn with ``assistant`` blocks, then a user turn with ``results``."""
    user = results if results is not None else [tool_result("toolu_1")]
    return [
        *ASK,
        {"role": "assistant", "content": list(assistant)},
        {"role": "user", "content": user},
    ]


def tool_use(tool_id: str = "toolu_1", name: str = "get_weather") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": "Paris"}}


def tool_result(tool_id: str) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": "sunny"}


def unanswered(index: int, ids: str) -> str:
    return (
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {ids}. Each `tool_use` block must have a corresponding `tool_result` block in "
        "the next message."
    )


TAGS = "'auto', 'any', 'tool', 'none'"
REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {"tool_choice": {"type": "required"}},
        (
            f"tool_choice: Input tag 'required' found using 'type' does not match any of the "
            f"expected tags: {TAGS}"
        ),
    ),
    ({"tool_choice": {"type": "tool"}}, "tool_choice.tool.name: Field required"),
    (
        {"tool_choice": {"type": "none", "disable_parallel_tool_use": True}},
        "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
    ),
    (
        {"tool_choice": {"type": "auto", "disable_parallel_tool_use": "yes"}},
        "tool_choice.auto.disable_parallel_tool_use: Input should be a valid boolean",
    ),
    ({"parallel_tool_calls": False}, "parallel_tool_calls: Extra inputs are not permitted"),
    ({"tools": [{"name": "f"}]}, "tools.0.custom.input_schema: Field required"),
    (
        {"tools": [{**WEATHER, "parameters": {}}]},
        "tools.0.custom.parameters: Extra inputs are not permitted",
    ),
    (
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        (
            "tools.0: Input tag 'function' found using 'type' does not match any of the expected "
            "tags: 'custom', 'bash_20250124'"
        ),
    ),
    (
        {"tools": [{**WEATHER, "name": "get weather"}]},
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    ({"tools": [WEATHER, TIME, WEATHER]}, "tools: Tool names must be unique."),
    (
        {"thinking": {"type": "enabled", "budget_tokens": 512}},
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        {"thinking": {"type": "on"}},
        (
            "thinking: Input tag 'on' found using 'type' does not match any of the expected tags: "
            "'enabled', 'adaptive', 'disabled', 'between_tools'"
        ),
    ),
    (
        {"thinking": {"type": "adaptive", "display": "full"}},
        "thinking.adaptive.display: Input should be 'summarized' or 'omitted'",
    ),
    (
        {"output_config": {"effort": "extreme"}},
        "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
    ),
    (
        {"thinking": {"type": "enabled", "budget_tokens": 2000}},
        (
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            f"documentation at {DOCS}#max-tokens-and-context-window-size"
        ),
    ),
    (
        {"thinking": THINK, "temperature": 0.5},
        (
            "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode. "
            f"Please consult our documentation at {CONSIDERATIONS}"
        ),
    ),
    (
        {"thinking": {"type": "adaptive"}, "tools": [WEATHER], "tool_choice": {"type": "any"}},
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    (
        {"messages": [*ASK, {"role": "assistant", "content": [tool_use()]}]},
        "",  # a trailing tool_use turn is a prefill: accepted
    ),
    (
        {"messages": [*ASK, {"role": "assistant", "content": [tool_use()]}, *ASK]},
        unanswered(1, "toolu_1"),
    ),
    (
        {"messages": loop(tool_use("toolu_1"), tool_use("toolu_2"))},
        unanswered(1, "toolu_2"),
    ),
    (
        {
            "messages": loop(
                tool_use(), results=[{"type": "text", "text": "hi"}, tool_result("toolu_1")]
            )
        },
        (
            "messages.2: Did not find 1 `tool_result` block(s) at the beginning of this message. "
            "Messages following `tool_use` blocks must begin with a matching number of "
            "`tool_result` blocks."
        ),
    ),
    (
        {"messages": loop(tool_use(), results=[tool_result("toolu_1"), tool_result("toolu_9")])},
        (
            "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: "
            "toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the "
            "previous message."
        ),
    ),
    (
        {"messages": loop({**thinking_block("plan"), "thinking": "plan!"}, tool_use())},
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    (
        {"messages": loop({**thinking_block("plan"), "signature": ""}, tool_use())},
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    (
        {"messages": loop({"type": "thinking", "thinking": "plan"}, tool_use())},
        "messages.1.content.0.thinking.signature: Field required",
    ),
    (
        {"thinking": THINK, "messages": loop(tool_use())},
        (
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
            "`tool_use`. When `thinking` is enabled, a final `assistant` message must start with "
            "a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` "
            "blocks). We recommend you include thinking blocks from previous turns. To avoid "
            f"this requirement, disable `thinking`. Please consult our documentation at {DOCS}"
        ),
    ),
    ({"thinking": THINK, "messages": loop(thinking_block("plan"), tool_use())}, ""),
]


@pytest.mark.parametrize(("extra", "message"), REFUSALS)
def test_refuses_bad_tool_and_thinking_requests(
    emu: ProviderEmulator, extra: dict[str, Any], message: str
) -> None:
    """Each rule gets Anthropic's own 400 wording (an empty wording: the body is accepted)."""
    status, payload = post(emu, {**BASE, "tools": [WEATHER], **extra})
    if not message:
        assert 200 == status, payload
        return
    assert 400 == status
    assert ("error", "invalid_request_error") == (payload["type"], payload["error"]["type"])
    assert payload["error"]["message"].startswith(message)


def test_live_tool_result_refusal_is_reproduced(emu: ProviderEmulator) -> None:
    """The recorded request gets the recorded 400 message (consecutive user turns merged)."""
    recorded = json.loads((FIXTURES / "error_400_tool_result_without_tool_use.json").read_text())
    messages = [
        {"role": "user", "content": "What's the weather in SF in Celsius?"},
        {"role": "user", "content": [tool_result("toolu_01GHndag5wQmbzNihYmV2UBj")]},
    ]
    status, payload = post(emu, {**BASE, "tools": [WEATHER], "messages": messages})
    assert (400, recorded["error"]) == (status, payload["error"])


def test_parallel_calls_non_streamed(emu: ProviderEmulator) -> None:
    """Scripted calls come back as tool_use blocks after the text, with Anthropic-style ids."""
    calls = (ToolUse("get_weather", {"city": "Paris", "unit": "c"}), ToolUse("get_time"))
    emu.script("anthropic", CLAUDE, Reply("Checking.", tool_calls=calls))
    status, payload = post(emu, {**BASE, "tools": [WEATHER, TIME]})
    assert 200 == status
    assert ["text", "tool_use", "tool_use"] == [b["type"] for b in payload["content"]]
    assert [{"city": "Paris", "unit": "c"}, {}] == [b["input"] for b in payload["content"][1:]]
    ids = [b["id"] for b in payload["content"][1:]]
    assert all(i.startswith("toolu_01") and len(i) == 30 for i in ids) and ids[0] != ids[1]
    assert "tool_use" == payload["stop_reason"]


def test_stream_sends_one_block_after_another(emu: ProviderEmulator) -> None:
    """Streamed calls: a block each, index increasing, input as input_json_delta fragments."""
    arguments = {"city": "Paris, Île-de-France", "unit": "c"}
    calls = (ToolUse("get_weather", arguments, id="toolu_given"), ToolUse("get_time"))
    emu.script("anthropic", CLAUDE, Reply("Checking.", tool_calls=calls))
    status, text = post(emu, {**BASE, "tools": [WEATHER, TIME], "stream": True})
    got = events(text)
    starts = [e for e in got if e["type"] == "content_block_start"]
    assert [(0, "text"), (1, "tool_use"), (2, "tool_use")] == [
        (e["index"], e["content_block"]["type"]) for e in starts
    ]
    assert "toolu_given" == starts[1]["content_block"]["id"]
    fragments = [
        e["delta"]["partial_json"]
        for e in got
        if e["type"] == "content_block_delta" and e["index"] == 1
    ]
    assert "" == fragments[0] and len(fragments) > 2
    assert arguments == json.loads("".join(fragments))
    assert [e["type"] for e in got][-2:] == ["message_delta", "message_stop"]
    assert "tool_use" == got[-2]["delta"]["stop_reason"]


def test_cut_mid_call(emu: ProviderEmulator) -> None:
    """A cut stream sends every call but the last whole, the last one half, and no stop."""
    calls = (ToolUse("get_time"), ToolUse("get_weather", {"city": "Paris", "unit": "c"}))
    emu.script("anthropic", CLAUDE, Fault.cut(after=1, tool_calls=calls))
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {**BASE, "tools": [WEATHER, TIME], "stream": True}
    seen = b""
    with pytest.raises(httpx.HTTPError):
        with httpx.stream(
            "POST", emu.url("anthropic") + "/v1/messages", json=body, headers=headers
        ) as r:
            for chunk in r.iter_raw():
                seen += chunk
    got = events(seen.decode())
    stops = [e["index"] for e in got if e["type"] == "content_block_stop"]
    assert [0, 1] == stops  # the text and the first call; the second call never stops
    partial = "".join(
        e["delta"]["partial_json"] for e in got if e.get("index") == 2 and "delta" in e
    )
    assert partial and not partial.endswith("}")
    assert "message_stop" not in [e["type"] for e in got]


def test_thinking_only_when_turned_on(emu: ProviderEmulator) -> None:
    """Scripted reasoning is sent, signed, only when the request turns thinking on."""
    emu.script("anthropic", CLAUDE, Reply("42", reasoning="six times seven"))
    _, plain = post(emu, BASE)
    assert ["text"] == [b["type"] for b in plain["content"]]
    assert "output_tokens_details" not in plain["usage"]
    emu.script("anthropic", CLAUDE, Reply("42", reasoning="six times seven"))
    _, thought = post(emu, {**BASE, "thinking": THINK})
    block = thought["content"][0]
    assert {"type": "thinking", "thinking": "six times seven"} == {
        k: block[k] for k in ("type", "thinking")
    }
    assert {"thinking_tokens": 3} == thought["usage"]["output_tokens_details"]
    assert 4 == thought["usage"]["output_tokens"]
    turn = {"role": "assistant", "content": thought["content"]}
    status, _ = post(emu, {**BASE, "messages": [*ASK, turn, *ASK], "thinking": THINK})
    assert 200 == status  # the block comes back unchanged: its signature verifies


def test_thinking_stream_and_omitted_display(emu: ProviderEmulator) -> None:
    """Streamed thinking: thinking_delta fragments, then one signature_delta; omitted: no text."""
    emu.script("anthropic", CLAUDE, Reply("42", reasoning="six times seven"))
    _, text = post(emu, {**BASE, "thinking": {"type": "adaptive"}, "stream": True})
    got = [e for e in events(text) if e.get("index") == 0 and "delta" in e]
    kinds = [e["delta"]["type"] for e in got]
    assert kinds[-1] == "signature_delta" and set(kinds[:-1]) == {"thinking_delta"}
    assert "six times seven" == "".join(e["delta"].get("thinking", "") for e in got)
    assert {"thinking_tokens": 3} == events(text)[-2]["usage"]["output_tokens_details"]
    emu.script("anthropic", CLAUDE, Reply("42", reasoning="six times seven"))
    _, hidden = post(emu, {**BASE, "thinking": {"type": "adaptive", "display": "omitted"}})
    assert "" == hidden["content"][0]["thinking"] and hidden["content"][0]["signature"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "any"}, ("get_weather", {"city": "x", "unit": "c"})),
        ({"type": "tool", "name": "get_time"}, ("get_time", {})),
    ],
)
def test_forced_choice_calls_the_tool(
    emu: ProviderEmulator, choice: dict[str, Any], expected: tuple[str, Any]
) -> None:
    """A forced tool choice with nothing scripted calls the tool with default arguments."""
    status, payload = post(emu, {**BASE, "tools": [WEATHER, TIME], "tool_choice": choice})
    assert 200 == status
    assert [("tool_use", *expected)] == [
        (b["type"], b["name"], b["input"]) for b in payload["content"]
    ]
    assert "tool_use" == payload["stop_reason"]


def test_choice_none_and_disabled_parallel_use(emu: ProviderEmulator) -> None:
    """tool_choice none answers without calls; disable_parallel_tool_use keeps one call."""
    calls = (ToolUse("get_weather", {"city": "Paris", "unit": "c"}), ToolUse("get_time"))
    emu.script("anthropic", CLAUDE, Reply("ok", tool_calls=calls))
    _, none = post(emu, {**BASE, "tools": [WEATHER, TIME], "tool_choice": {"type": "none"}})
    assert (["text"], "end_turn") == ([b["type"] for b in none["content"]], none["stop_reason"])
    emu.script("anthropic", CLAUDE, Reply("ok", tool_calls=calls))
    one_choice = {"type": "auto", "disable_parallel_tool_use": True}
    _, one = post(emu, {**BASE, "tools": [WEATHER, TIME], "tool_choice": one_choice})
    assert ["text", "tool_use"] == [b["type"] for b in one["content"]]


def shape(event: dict[str, Any]) -> tuple[Any, ...]:
    """An event's type, its block or delta type, and the keys it carries."""
    inner = event.get("content_block") or event.get("delta") or {}
    return (event["type"], inner.get("type"), frozenset(event), frozenset(inner))


def test_stream_events_have_the_recorded_shapes(emu: ProviderEmulator) -> None:
    """Every tool and thinking event the emulator sends has a recorded event's keys."""
    recorded = {
        shape(e)
        for name in ("stream_tool_use_live.sse", "stream_thinking_signature.sse")
        for e in events((FIXTURES / name).read_text())
    }
    calls = (ToolUse("get_weather", {"city": "Paris", "unit": "c"}),)
    emu.script("anthropic", CLAUDE, Reply("", tool_calls=calls, reasoning="plan"))
    _, text = post(emu, {**BASE, "tools": [WEATHER], "thinking": THINK, "stream": True})
    served = [shape(e) for e in events(text) if e["type"].startswith("content_block")]
    assert {s[:2] for s in served} == {
        ("content_block_start", "thinking"),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"),
        ("content_block_stop", None),
        ("content_block_start", "tool_use"),
        ("content_block_delta", "input_json_delta"),
    }
    assert set(served) <= recorded


def test_enabled_thinking_always_thinks(emu: ProviderEmulator) -> None:
    """With thinking enabled an unscripted answer still starts with a signed thinking block,
    so a tool loop can send it back; adaptive thinking may answer without one."""
    calls = (ToolUse("get_time"),)
    emu.script("anthropic", CLAUDE, Reply("", tool_calls=calls))
    _, first = post(emu, {**BASE, "tools": [TIME], "thinking": THINK})
    assert ["thinking", "tool_use"] == [b["type"] for b in first["content"]]
    results = [tool_result(first["content"][1]["id"])]
    turns = [*ASK, {"role": "assistant", "content": first["content"]}]
    status, _ = post(
        emu,
        {
            **BASE,
            "tools": [TIME],
            "thinking": THINK,
            "messages": [*turns, {"role": "user", "content": results}],
        },
    )
    assert 200 == status
    _, adaptive = post(emu, {**BASE, "thinking": {"type": "adaptive"}})
    assert ["text"] == [b["type"] for b in adaptive["content"]]
