"""llmorch's OpenAI provider over the emulator: structured output, refusals, media, caching and
the per-model parameter facts (from the table, and learned from OpenAI's 400)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pydantic
import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.capabilities import forget_learned, learned
from llmorch.testing import ProviderEmulator, Reply

MODEL = "gpt-5.4-mini"
USER = [{"role": "user", "content": "Weather in Oslo?"}]


class Location(pydantic.BaseModel):
    city: str
    temperature: float
    units: Literal["c", "f"]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
async def orch(emu: ProviderEmulator) -> AsyncIterator[AsyncLLMOrchestrator]:
    forget_learned()
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": MODEL,
            "providers": {"openai": emu.config_for("openai") | {"fallback_models": []}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }
    )
    async with AsyncLLMOrchestrator(config) as orchestrator:
        yield orchestrator
    forget_learned()


def chats(emu: ProviderEmulator, start: int) -> list[dict[str, Any]]:
    return [r.body for r in emu.requests[start:] if r.method == "POST"]


async def test_a_pydantic_format_comes_back_parsed(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """Unscripted, the emulator answers the strict schema; response.parsed is a Location."""
    start = len(emu.requests)
    response = await orch.send_request(USER, response_format=Location)
    assert isinstance(response.parsed, Location)
    assert [] == response.warnings
    assert "Location" == chats(emu, start)[0]["response_format"]["json_schema"]["name"]


async def test_a_streamed_list_root_is_unwrapped(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """list[Location] travels wrapped ({"value": [...]}) and arrives as a list."""
    emu.script(
        "openai", MODEL, Reply('{"value": [{"city": "Oslo", "temperature": 3, "units": "c"}]}')
    )
    stream = orch.send_streaming_request(USER, response_format=list[Location])
    text = "".join([chunk async for chunk in stream])
    assert text.startswith('{"value"')
    assert [Location(city="Oslo", temperature=3, units="c")] == stream.response.parsed


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_refusal_is_content_filter_with_nothing_parsed(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator, streamed: bool
) -> None:
    """OpenAI's message.refusal: finish_reason content_filter, the explanation, parsed None."""
    emu.script("openai", MODEL, Reply("I can't help with that.", finish_reason="content_filter"))
    if streamed:
        stream = orch.send_streaming_request(USER, response_format=Location)
        async for _ in stream:
            pass
        response = stream.response
    else:
        response = await orch.send_request(USER, response_format=Location)
    assert ("content_filter", "I can't help with that.", None) == (
        response.finish_reason,
        response.content,
        response.parsed,
    )


async def test_images_and_a_pdf_reach_openai(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """A URL image, bytes as a data URL and a PDF file part are accepted by OpenAI's rules."""
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
    user = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
                },
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
            ],
        }
    ]
    start = len(emu.requests)
    response = await orch.send_request(user)
    assert "stop" == response.finish_reason
    content = chats(emu, start)[0]["messages"][0]["content"]
    assert ["text", "image_url", "image_url", "file"] == [p["type"] for p in content]
    assert "document.pdf" == content[3]["file"]["filename"]


async def test_cache_control_is_ignored_with_a_warning(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """OpenAI caches by itself: the breakpoint is not sent, the response says so."""
    user = [{"role": "user", "content": "long context", "cache_control": {"type": "ephemeral"}}]
    start = len(emu.requests)
    response = await orch.send_request(user)
    assert "cache_control" not in str(chats(emu, start)[0])
    assert 1 == len(response.warnings) and "cache_control" in response.warnings[0]


async def test_temperature_on_an_always_reasoning_model_is_removed_by_the_table(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """gpt-5-mini: temperature 0.5 and top_p are removed before the call (one request)."""
    emu.script("openai", "gpt-5-mini", Reply("ok"))
    start = len(emu.requests)
    response = await orch.send_request(USER, model="gpt-5-mini", temperature=0.5, top_p=0.9)
    bodies = chats(emu, start)
    assert 1 == len(bodies) and not {"temperature", "top_p"} & set(bodies[0])
    assert 2 == len(response.warnings)


async def test_temperature_while_reasoning_is_learned_from_the_400(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """gpt-5.4-mini reasoning: OpenAI's 400 is read, learned, retried; later calls skip it."""
    start = len(emu.requests)
    response = await orch.send_request(USER, temperature=0.5, reasoning="high")
    bodies = chats(emu, start)
    assert [0.5, None] == [b.get("temperature") for b in bodies]
    assert "temperature" in learned("openai", MODEL)
    assert any("temperature" in w for w in response.warnings)
    start = len(emu.requests)
    await orch.send_request(USER, temperature=0.5, reasoning="high")
    assert [None] == [b.get("temperature") for b in chats(emu, start)]


async def test_json_mode_says_json_for_a_caller_who_did_not(
    emu: ProviderEmulator, orch: AsyncLLMOrchestrator
) -> None:
    """OpenAI refuses JSON mode unless the messages mention "json": llmorch adds one system
    line saying so, and only when the caller's messages do not already."""
    emu.clear()
    plain = await orch.send_request(USER, response_format={"type": "json_object"})
    said = [{"role": "user", "content": "Give the weather in Oslo as JSON."}]
    await orch.send_request(said, response_format={"type": "json_object"})
    first, second = [r.body for r in emu.requests if r.path.endswith("/chat/completions")]
    assert isinstance(plain.parsed, dict)
    assert first["messages"][0]["role"] == "system"
    assert "JSON object" in first["messages"][0]["content"]
    assert second["messages"] == said
