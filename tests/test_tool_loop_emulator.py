"""The tool loop over real sockets, through the emulator, on the vendor codecs (SPEC §2.9).

The loop's own logic is in ``tests/test_tool_loop.py`` (a scripted adapter); this checks that
every provider's codec carries a whole loop: parallel calls, their results sent back, the
reasoning state returned byte for byte, one ledger record per turn, typed stream events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, MaxTurnsExceededError, OrchestratorConfig, events
from llmorch.testing import ProviderEmulator, Reply, ToolUse

#: (dialect, model, reasoning sends opaque state back) for every provider whose codec has tools.
DIALECTS = [
    ("openai", "gpt-5.4-mini", False),  # Chat Completions returns no opaque reasoning state
    ("anthropic", "claude-haiku-5-5", True),
    ("gemini", "gemini-3.8-flash", True),
    ("vertex", "gemini-3.8-flash", True),
    ("vertex", "claude-sonnet-5-5", True),
    ("bedrock", "us.anthropic.claude-haiku-5-5", True),
]
USER = [{"role": "user", "content": "Weather and population of Paris?"}]


def weather(city: str) -> dict[str, Any]:
    """The weather in a city."""
    return {"city": city, "celsius": 21}


async def population(city: str) -> int:
    """The population of a city."""
    return 2_100_000 if city == "Paris" else 0


CALLS = Reply(
    "Checking.",
    tool_calls=(ToolUse("weather", {"city": "Paris"}), ToolUse("population", {"city": "Paris"})),
)


def config(emu: ProviderEmulator, dialect: str, model: str, log: Path) -> OrchestratorConfig:
    provider = {**emu.config_for(dialect), "max_retries": 0, "fallback_models": []}
    return OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": model,
            "providers": {dialect: provider},
            "cost_tracking": {"log_path": str(log)},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
        }
    )


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def chat_bodies(emu: ProviderEmulator, model: str) -> list[str]:
    """The JSON text of every chat request for ``model`` (token and listing calls left out)."""
    return [json.dumps(r.body) for r in emu.requests if r.model == model and r.method == "POST"]


@pytest.mark.parametrize(("dialect", "model", "stateful"), DIALECTS)
async def test_a_parallel_tool_loop_on_every_provider(
    dialect: str, model: str, stateful: bool, tmp_path: Path
) -> None:
    """Two parallel calls, both results sent back, the answer ends the loop; reasoning state
    goes back byte for byte; one ledger record per turn."""
    log = tmp_path / "ledger.jsonl"
    async with ProviderEmulator() as emu:
        emu.script(
            dialect,
            model,
            Reply(CALLS.text, tool_calls=CALLS.tool_calls, reasoning="I should call both."),
            Reply("21 degrees; 2.1 million people."),
        )
        async with AsyncLLMOrchestrator(config(emu, dialect, model, log)) as orch:
            result = await orch.run_tools(
                USER, tools=[weather, population], max_turns=3, reasoning="low"
            )
        bodies = chat_bodies(emu, model)
    assert "21 degrees; 2.1 million people." == result.content
    assert 2 == len(result.turns) == len(bodies) == len(records(log))
    first = result.turns[0]
    assert ["weather", "population"] == [call.name for call in first.tool_calls]
    assert "tool_calls" == first.finish_reason
    assert len({call.id for call in first.tool_calls}) == 2
    results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert ['{"city": "Paris", "celsius": 21}', "2100000"] == results
    for text in results:  # both results reached the vendor (JSON-escaped in its body)
        assert json.dumps(text)[1:-1] in bodies[1]
    signatures = [item.signature for item in first.reasoning_items if item.signature]
    if stateful:
        assert signatures, "reasoning on: the vendor's opaque state comes back"
    for signature in signatures:
        assert signature in bodies[1]  # sent back exactly as received
    assert pytest.approx(sum(r["cost"] for r in records(log))) == result.cost


@pytest.mark.parametrize(("dialect", "model", "stateful"), DIALECTS)
async def test_max_turns_on_every_provider(
    dialect: str, model: str, stateful: bool, tmp_path: Path
) -> None:
    """A model that keeps calling tools is stopped at max_turns, every turn recorded."""
    log = tmp_path / "ledger.jsonl"
    again = Reply(tool_calls=(ToolUse("weather", {"city": "Paris"}),))
    async with ProviderEmulator() as emu:
        emu.script(dialect, model, again, again, again)
        async with AsyncLLMOrchestrator(config(emu, dialect, model, log)) as orch:
            with pytest.raises(MaxTurnsExceededError) as caught:
                await orch.run_tools(USER, tools=[weather], max_turns=2)
    assert 2 == len(caught.value.turns) == len(records(log))
    assert "tool_calls" in caught.value.messages[-1]


@pytest.mark.parametrize(("dialect", "model", "stateful"), DIALECTS)
async def test_stream_events_of_parallel_calls_on_every_provider(
    dialect: str, model: str, stateful: bool, tmp_path: Path
) -> None:
    """stream.events() gives each call's start, fragments and whole call, then the finish."""
    log = tmp_path / "ledger.jsonl"
    async with ProviderEmulator() as emu:
        emu.script(dialect, model, CALLS)
        async with AsyncLLMOrchestrator(config(emu, dialect, model, log)) as orch:
            stream = orch.send_streaming_request(USER, tools=[weather, population])
            got = [event async for event in stream.events()]
    started = [e for e in got if isinstance(e, events.ToolCallStarted)]
    done = [e.call for e in got if isinstance(e, events.ToolCallDone)]
    assert ["weather", "population"] == [e.name for e in started]
    assert [{"city": "Paris"}] * 2 == [call.arguments for call in done]
    for start in started:
        fragments = [
            e.arguments_delta
            for e in got
            if isinstance(e, events.ToolCallDelta) and e.index == start.index
        ]
        call = next(c for c in done if c.id == start.id)
        assert call.arguments_json == "".join(fragments)
    assert "Checking." == "".join(e.text for e in got if isinstance(e, events.TextDelta))
    assert events.Finish("tool_calls") == got[-1]
    assert done == stream.response.tool_calls
    assert 1 == len(records(log))
