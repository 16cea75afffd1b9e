"""The typed-event paths: ``stream.events()`` against plain iteration, and a tool-call stream.

Both run against the benchmark server on the same transport as the bare-httpx baseline:

- ``events_per_event_us``: what ``stream.events()`` costs per event over plain text iteration
  of the same 50-chunk stream (the difference of the medians over the chunk count);
- ``tool_stream``: a 50-delta tool-call stream read whole by llmorch (``stream.events()``,
  arguments merged and parsed) and by bare httpx + httpx-aiohttp (lines parsed, the argument
  fragments joined and parsed once), and their ratio.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.clients import MESSAGES, OPENAI_BODY, _limits

TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
}
CHUNKS = 50


async def _median_ms(call: Callable[[], Awaitable[Any]], count: int) -> float:
    for _ in range(max(3, count // 10)):
        await call()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 4)


async def measure(base: str, count: int) -> dict[str, Any]:
    """Run the event paths.

    Args:
        base: The benchmark server's base URL.
        count: Streams per case.

    Returns:
        Medians in ms, the per-event cost in µs and the tool-stream ratio.
    """
    import httpx
    from httpx_aiohttp import AiohttpTransport

    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    url = base + "/openai/v1/chat/completions"
    tool_body = {**OPENAI_BODY, "stream": True, "tools": [TOOL]}
    async with httpx.AsyncClient(
        limits=_limits(), transport=AiohttpTransport(limits=_limits())
    ) as http:

        async def bare_tools() -> dict[str, Any]:
            fragments: list[str] = []
            async with http.stream("POST", url, json=tool_body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        chunk = json.loads(line[6:])
                        fragments.extend(
                            call["function"].get("arguments") or ""
                            for choice in chunk["choices"]
                            for call in choice["delta"].get("tool_calls") or ()
                        )
            arguments: dict[str, Any] = json.loads("".join(fragments))
            return arguments

        bare_ms = await _median_ms(bare_tools, count)

    with tempfile.TemporaryDirectory() as tmp:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "openai",
                "active_model": OPENAI_BODY["model"],
                "providers": {"openai": {"base_url": base + "/openai/v1", "api_key": "k"}},
                "cost_tracking": {"log_path": f"{tmp}/ledger.jsonl"},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "http_transport": "aiohttp",
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:

            async def plain() -> int:
                return len([c async for c in orch.send_streaming_request(MESSAGES)])

            async def events() -> int:
                stream = orch.send_streaming_request(MESSAGES)
                return len([e async for e in stream.events()])

            async def tools() -> int:
                stream = orch.send_streaming_request(MESSAGES, tools=[TOOL])
                got = [e async for e in stream.events()]
                assert stream.response.tool_calls[0].arguments["items"][-1] == "end"
                return len(got)

            plain_ms = await _median_ms(plain, count)
            events_ms = await _median_ms(events, count)
            tools_ms = await _median_ms(tools, count)
    return {
        "plain_stream_ms": plain_ms,
        "events_stream_ms": events_ms,
        "events_per_event_us": round((events_ms - plain_ms) * 1000 / CHUNKS, 3),
        "tool_stream": {
            "llmorch_ms": tools_ms,
            "httpx+aiohttp_ms": bare_ms,
            "ratio": round(tools_ms / bare_ms, 3) if bare_ms else 0.0,
        },
    }
