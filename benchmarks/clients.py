"""The clients under test, each with the same calls: one request and one 50-chunk stream.

The bare-httpx baselines and llmorch also have the typed-event calls: a 50-chunk stream read
through ``stream.events()`` (bare httpx: the same line parsing as its plain stream, the floor any
event layer adds to) and a tool call whose arguments arrive in 50 deltas, read whole (bare httpx:
lines parsed, the argument fragments joined and parsed once).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

MESSAGES = [{"role": "user", "content": "Say hello."}]
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": MESSAGES}
ANTHROPIC_BODY = {"model": "claude-haiku-4-5", "max_tokens": 256, "messages": MESSAGES}
TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
}


@dataclass
class Client:
    """One client, ready to call (``events`` and ``tools`` only where the client has them)."""

    request: Callable[[], Awaitable[str]]
    stream: Callable[[], Awaitable[int]]
    events: Callable[[], Awaitable[int]] | None = None
    tools: Callable[[], Awaitable[int]] | None = None


def llmorch_config(
    base: str, ledger: str, provider: str = "openai", transport: str = "auto"
) -> dict[str, Any]:
    """The configuration every llmorch case runs with (ledger on, as users run it).

    Args:
        base: The benchmark server's base URL.
        ledger: The JSON-lines ledger's path.
        provider: ``openai`` or ``anthropic``.
        transport: The ``http_transport`` setting.

    Returns:
        The configuration, as a dict for ``OrchestratorConfig.from_dict``.
    """
    prefix = "/openai/v1" if provider == "openai" else "/anthropic"
    model = OPENAI_BODY["model"] if provider == "openai" else ANTHROPIC_BODY["model"]
    return {
        "active_provider": provider,
        "active_model": model,
        "providers": {provider: {"type": provider, "base_url": base + prefix, "api_key": "k"}},
        "cost_tracking": {"log_path": ledger},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "http_transport": transport,
    }


def _limits() -> Any:
    import httpx

    return httpx.Limits(max_connections=200, max_keepalive_connections=100)


def _bare(transport: str) -> Callable[[str], contextlib.AbstractAsyncContextManager[Client]]:
    @contextlib.asynccontextmanager
    async def make(base: str) -> AsyncIterator[Client]:
        import httpx

        kwargs: dict[str, Any] = {}
        if transport == "aiohttp":
            from httpx_aiohttp import AiohttpTransport

            kwargs["transport"] = AiohttpTransport(limits=_limits())
        url = base + "/openai/v1/chat/completions"
        async with httpx.AsyncClient(limits=_limits(), **kwargs) as http:

            async def request() -> str:
                response = await http.post(url, json=OPENAI_BODY)
                content: str = response.json()["choices"][0]["message"]["content"]
                return content

            async def stream() -> int:
                count = 0
                async with http.stream("POST", url, json={**OPENAI_BODY, "stream": True}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            chunk = json.loads(line[6:])
                            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                                count += 1
                return count

            async def tools() -> int:
                fragments: list[str] = []
                body = {**OPENAI_BODY, "stream": True, "tools": [TOOL]}
                async with http.stream("POST", url, json=body) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            chunk = json.loads(line[6:])
                            fragments.extend(
                                call["function"].get("arguments") or ""
                                for choice in chunk["choices"]
                                for call in choice["delta"].get("tool_calls") or ()
                            )
                arguments: dict[str, Any] = json.loads("".join(fragments))
                return len(arguments["items"])

            yield Client(request, stream, events=stream, tools=tools)

    return make


def _llmorch(
    provider: str, transport: str
) -> Callable[[str], contextlib.AbstractAsyncContextManager[Client]]:
    @contextlib.asynccontextmanager
    async def make(base: str) -> AsyncIterator[Client]:
        from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

        with tempfile.TemporaryDirectory() as tmp:
            config = OrchestratorConfig.from_dict(
                llmorch_config(base, f"{tmp}/ledger.jsonl", provider, transport)
            )
            async with AsyncLLMOrchestrator(config) as orch:

                async def request() -> str:
                    return (await orch.send_request(MESSAGES)).content

                async def stream() -> int:
                    count = 0
                    async for _ in orch.send_streaming_request(MESSAGES):
                        count += 1
                    return count

                async def events() -> int:
                    stream = orch.send_streaming_request(MESSAGES)
                    return len([e async for e in stream.events()])

                async def tools() -> int:
                    stream = orch.send_streaming_request(MESSAGES, tools=[TOOL])
                    async for _ in stream.events():
                        pass
                    return len(stream.response.tool_calls[0].arguments["items"])

                tool_stream = tools if provider == "openai" else None
                yield Client(request, stream, events=events, tools=tool_stream)

    return make


@contextlib.asynccontextmanager
async def _openai_sdk(base: str) -> AsyncIterator[Client]:
    import openai

    async with openai.AsyncOpenAI(base_url=base + "/openai/v1", api_key="k", max_retries=0) as sdk:

        async def request() -> str:
            response = await sdk.chat.completions.create(**OPENAI_BODY)  # type: ignore[call-overload]
            return str(response.choices[0].message.content)

        async def stream() -> int:
            count = 0
            events = await sdk.chat.completions.create(**OPENAI_BODY, stream=True)  # type: ignore[call-overload]
            async for chunk in events:
                if chunk.choices and chunk.choices[0].delta.content:
                    count += 1
            return count

        yield Client(request, stream)


@contextlib.asynccontextmanager
async def _anthropic_sdk(base: str) -> AsyncIterator[Client]:
    import anthropic

    async with anthropic.AsyncAnthropic(
        base_url=base + "/anthropic", api_key="k", max_retries=0
    ) as sdk:

        async def request() -> str:
            message = await sdk.messages.create(**ANTHROPIC_BODY)  # type: ignore[call-overload]
            return str(message.content[0].text)

        async def stream() -> int:
            count = 0
            events = await sdk.messages.create(**ANTHROPIC_BODY, stream=True)  # type: ignore[call-overload]
            async for event in events:
                if event.type == "content_block_delta":
                    count += 1
            return count

        yield Client(request, stream)


@contextlib.asynccontextmanager
async def _litellm(base: str) -> AsyncIterator[Client]:
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-list download
    import litellm

    litellm.telemetry = False
    kwargs = {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "api_base": base + "/openai/v1",
        "api_key": "k",
    }

    async def request() -> str:
        response = await litellm.acompletion(**kwargs)
        return str(response.choices[0].message.content)

    async def stream() -> int:
        count = 0
        async for chunk in await litellm.acompletion(**kwargs, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                count += 1
        return count

    yield Client(request, stream)


CLIENTS: dict[str, Callable[[str], contextlib.AbstractAsyncContextManager[Client]]] = {
    "httpx": _bare("httpx"),
    "httpx+aiohttp": _bare("aiohttp"),
    "llmorch": _llmorch("openai", "auto"),
    "llmorch (httpx pool)": _llmorch("openai", "httpx"),
    "llmorch anthropic": _llmorch("anthropic", "auto"),
    "openai SDK": _openai_sdk,
    "anthropic SDK": _anthropic_sdk,
    "litellm": _litellm,
}
NEEDS = {"openai SDK": "openai", "anthropic SDK": "anthropic", "litellm": "litellm"}


def available() -> list[str]:
    """The clients whose packages are installed here."""
    return [n for n in CLIENTS if n not in NEEDS or importlib.util.find_spec(NEEDS[n])]
