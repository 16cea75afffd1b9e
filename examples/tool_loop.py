"""A tool loop on every provider, against llmorch's emulator: no API keys, no network.

The emulator is scripted to answer the first turn with two parallel tool calls and the second
with the final text. ``run_tools`` runs both tools concurrently (the async one on the event loop,
the sync one in a worker thread), sends their results back and returns the final answer with
the whole exchange. Against a real provider the model decides what to call; the code is the
same.

Run it: ``python examples/tool_loop.py``
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timezone

from _emulator import emulator_config

from llmorch import AsyncLLMOrchestrator
from llmorch.testing import ProviderEmulator, Reply, ToolUse

#: The providers to run the same loop on: all five.
PROVIDERS = ("openai", "anthropic", "gemini", "vertex", "bedrock")


async def get_weather(city: str, unit: str = "celsius") -> dict[str, object]:
    """The current weather in a city.

    Args:
        city: The city name, e.g. "Paris".
        unit: "celsius" or "fahrenheit".
    """
    await asyncio.sleep(0)  # a real tool would await an HTTP call here
    return {"city": city, "temperature": 21 if unit == "celsius" else 70, "unit": unit}


def get_time(city: str) -> str:
    """The local time in a city (a plain function: it runs in a worker thread).

    Args:
        city: The city name.
    """
    return f"{city}: {datetime(2026, 12, 1, 14, 5, tzinfo=timezone.utc):%H:%M}"


SCRIPT = (
    Reply(
        tool_calls=(
            ToolUse("get_weather", {"city": "Paris"}),
            ToolUse("get_time", {"city": "Paris"}),
        )
    ),
    Reply("It is 21 degrees and 14:05 in Paris."),
)


async def main() -> None:
    """Run the same loop on each provider and print what happened."""
    async with ProviderEmulator() as emu:
        with tempfile.TemporaryDirectory(prefix="llmorch-ex-") as tmp:
            config = emulator_config(emu, tmp, PROVIDERS)
            async with AsyncLLMOrchestrator(config) as orch:
                for name in PROVIDERS:
                    model = emu.chat_models(name)[0]
                    emu.script(name, model, *SCRIPT)
                    result = await orch.run_tools(
                        [{"role": "user", "content": "Weather and time in Paris?"}],
                        tools=[get_weather, get_time],
                        provider=name,
                        model=model,
                        max_turns=4,
                    )
                    calls = [call.name for call in result.turns[0].tool_calls]
                    print(f"{name} ({model}): {len(result.turns)} turns, tools {calls}")
                    for message in result.messages:
                        if message["role"] == "tool":
                            print(f"  tool result: {message['content']}")
                    print(f"  answer: {result.content}  (cost ${result.cost:.6f})")
                print(f"Session cost: ${orch.get_session_cost():.6f}")


if __name__ == "__main__":
    asyncio.run(main())
