"""Issue 13's acceptance on every provider, through the emulator over real sockets.

A two-turn tool loop with parallel calls and reasoning on, plain and streamed: the calls parse
exactly, the reasoning state goes back byte-identical (the emulator refuses a modified one), each
turn is one ledger record, and a stream cut mid-call raises ``StreamInterruptedError`` carrying
the partial calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, StreamInterruptedError
from llmorch.events import ToolCallDone, ToolCallStarted
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse

CASES = [
    ("openai", "gpt-5.4-mini"),
    ("anthropic", "claude-haiku-5-5"),
    ("gemini", "gemini-3.8-flash"),
    ("vertex", "gemini-3.8-flash"),
    ("vertex", "claude-haiku-5-5"),
    ("bedrock", "us.anthropic.claude-haiku-5-5"),
]
IDS = [f"{d}-{m}" for d, m in CASES]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The time in a time zone.",
            "parameters": {
                "type": "object",
                "properties": {"tz": {"type": "string"}},
                "required": ["tz"],
            },
        },
    },
]
ASK = [{"role": "user", "content": "What is the weather and the time in Paris?"}]
CALLS = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {"tz": "CET"}))
THINKING = "The user wants two facts, so two lookups."


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def orch_for(emu: ProviderEmulator, dialect: str, model: str, ledger: Path) -> AsyncLLMOrchestrator:
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": model,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": str(ledger)},
            }
        )
    )


def results_for(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "role": "tool",
            "tool_call_id": call["id"],
            "content": f"result of {call['function']['name']}",
        }
        for call in message["tool_calls"]
    ]


def sent_body(emu: ProviderEmulator) -> str:
    return json.dumps(emu.requests[-1].body)


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_two_turn_tool_loop_keeps_reasoning_byte_identical(
    emu: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """Parallel calls parse exactly; signatures go back unchanged; one record per turn."""
    emu.script(dialect, model, Reply(tool_calls=CALLS, reasoning=THINKING), Reply("Sunny, noon."))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(emu, dialect, model, ledger) as orch:
        first = await orch.send_request(ASK, tools=TOOLS, reasoning="low")
        assert first.finish_reason == "tool_calls"
        assert [(c.name, c.arguments) for c in first.tool_calls] == [
            ("get_weather", {"city": "Paris"}),
            ("get_time", {"tz": "CET"}),
        ]
        assert len({c.id for c in first.tool_calls}) == 2
        history = [*ASK, first.message, *results_for(first.message)]
        second = await orch.send_request(history, tools=TOOLS, reasoning="low")
    assert second.content == "Sunny, noon."
    body = sent_body(emu)
    signatures = [item.signature for item in first.reasoning_items if item.signature]
    if dialect != "openai":  # Chat Completions returns no reasoning state
        assert signatures, first.reasoning_items
    for signature in signatures:
        assert json.dumps(signature)[1:-1] in body  # sent back byte for byte
    assert len(ledger.read_text().splitlines()) == 2


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_streamed_tool_loop(
    emu: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The streamed turn yields started/done events per call and the same response shape."""
    emu.script(dialect, model, Reply(tool_calls=CALLS, reasoning=THINKING), Reply("Sunny, noon."))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(emu, dialect, model, ledger) as orch:
        stream = orch.send_streaming_request(ASK, tools=TOOLS, reasoning="low")
        events = [e async for e in stream.events()]
        first = stream.response
        started = [e.name for e in events if isinstance(e, ToolCallStarted)]
        done = [e.call for e in events if isinstance(e, ToolCallDone)]
        assert started == ["get_weather", "get_time"]
        assert [c.arguments for c in done] == [{"city": "Paris"}, {"tz": "CET"}]
        assert first.tool_calls == done and first.finish_reason == "tool_calls"
        history = [*ASK, first.message, *results_for(first.message)]
        again = orch.send_streaming_request(history, tools=TOOLS, reasoning="low")
        assert "".join([c async for c in again]) == "Sunny, noon."
    for item in first.reasoning_items:
        if item.signature:
            assert json.dumps(item.signature)[1:-1] in sent_body(emu)
    assert len(ledger.read_text().splitlines()) == 2


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_stream_cut_mid_call_carries_the_partial_calls(
    emu: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The cut call never gets ToolCallDone; the error carries every call begun.

    Gemini sends each call whole in one chunk, so a cut there loses the half-sent chunk: the
    error carries the calls that arrived, all of them complete.
    """
    emu.script(dialect, model, Fault.cut(after=1, text="Checking now", tool_calls=CALLS))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(emu, dialect, model, ledger) as orch:
        stream = orch.send_streaming_request(ASK, tools=TOOLS)
        seen: list[Any] = []
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream.events():
                seen.append(event)  # noqa: PERF401 - what arrived before the cut is checked
    partial = info.value.partial_tool_calls
    if model.startswith("gemini"):
        assert [(c.name, c.error) for c in partial] == [("get_weather", None)]
    else:
        assert [c.name for c in partial][-1] == "get_time"
        assert partial[-1].error  # the unfinished call says so
    assert info.value.partial_text == "Checking"
    assert "get_time" not in [e.call.name for e in seen if isinstance(e, ToolCallDone)]
    record = json.loads(ledger.read_text().splitlines()[0])
    assert record["complete"] is False
