"""Anthropic structured output and refusals: recorded answers, the request mapping, streams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.exceptions import ContentFilteredError, InvalidRequestError
from llmorch.providers._anthropic_wire import unsupported_parameter
from llmorch.testing import ProviderEmulator

FIXTURES = Path(__file__).parent.parent / "fixtures" / "anthropic"
URL = "https://api.anthropic.com/v1/messages"
MODEL = "claude-sonnet-4-5-20250929"
ASK = [{"role": "user", "content": "Extract: I want to order 2 Green Tea at $5.50 each"}]


class OrderItem(pydantic.BaseModel):
    product_name: str
    price: float
    quantity: int


class OrderDetails(pydantic.BaseModel):
    items: list[OrderItem]
    total: float


def expected(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def orchestrator() -> AsyncLLMOrchestrator:
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "anthropic",
            "active_model": MODEL,
            "providers": {
                "anthropic": {"api_key": "sk-ant-x", "fallback_models": [], "max_retries": 0}
            },
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"enabled": False},
            "http_transport": "httpx",
        }
    )
    return AsyncLLMOrchestrator(config)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("message_structured_output.json", OrderItem),
        ("message_structured_output_nested.json", OrderDetails),
    ],
)
async def test_recorded_answers_parse(name: str, model: type[pydantic.BaseModel]) -> None:
    """The recorded parse() answers give the expected text and `.parsed`, from a dict schema too."""
    want = expected(name)
    with respx.mock() as mock:
        route = mock.post(URL).respond(200, json=json.loads((FIXTURES / name).read_text()))
        async with orchestrator() as orch:
            typed = await orch.send_request(ASK, response_format=model)
            plain = await orch.send_request(ASK, response_format=want["response_format"])
    assert want["parsed"] == typed.parsed.model_dump()
    assert isinstance(typed.parsed, model)
    assert want["parsed"] == plain.parsed
    assert (want["text"], want["finish_reason"], want["tokens_used"]) == (
        plain.content,
        plain.finish_reason,
        plain.tokens_used,
    )
    sent = json.loads(route.calls[1].request.content)
    assert (
        want["response_format"]["json_schema"]["schema"]
        == sent["output_config"]["format"]["schema"]
    )
    assert "json_schema" == sent["output_config"]["format"]["type"]


def sse(name: str) -> httpx.Response:
    data = (FIXTURES / name).read_bytes()
    return httpx.Response(200, content=data, headers={"content-type": "text/event-stream"})


async def test_recorded_streamed_array_root_parses() -> None:
    """The streamed recording of an array-root schema: text deltas, then `.parsed` at the end."""
    name = "stream_structured_output_array.sse"
    want = expected(name)
    with respx.mock() as mock:
        route = mock.post(URL).mock(return_value=sse(name))
        async with orchestrator() as orch:
            stream = orch.send_streaming_request(ASK, response_format=list[int])
            chunks = [chunk async for chunk in stream]
    assert ["[", "12", "345,", "67890]"] == chunks
    assert want["parsed"] == stream.response.parsed
    assert (want["finish_reason"], want["tokens_used"]) == (
        stream.response.finish_reason,
        stream.response.tokens_used,
    )
    sent = json.loads(route.calls[0].request.content)
    assert {"type": "array", "items": {"type": "integer"}} == sent["output_config"]["format"][
        "schema"
    ]


async def test_recorded_streamed_refusal_is_content_filter_not_a_validation_error() -> None:
    """A refusal streams its explanation; finish content_filter, parsed None, no error."""
    name = "stream_refusal_stop_details.sse"
    want = expected(name)
    with respx.mock() as mock:
        mock.post(URL).mock(return_value=sse(name))
        async with orchestrator() as orch:
            stream = orch.send_streaming_request(ASK, response_format=OrderItem)
            text = "".join([chunk async for chunk in stream])
    assert want["text"] == text == stream.response.content
    assert ("content_filter", None) == (stream.response.finish_reason, stream.response.parsed)


async def test_refusal_with_explanation_and_without() -> None:
    """stop_details.explanation is the content of a refusal without text; none at all raises."""
    refusal = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": "refusal",
        "stop_details": {"type": "refusal", "category": "cyber", "explanation": "Refused."},
        "usage": {"input_tokens": 3, "output_tokens": 0},
    }
    with respx.mock() as mock:
        mock.post(URL).mock(
            side_effect=[
                httpx.Response(200, json=refusal),
                httpx.Response(200, json={**refusal, "stop_details": None}),
            ]
        )
        async with orchestrator() as orch:
            answer = await orch.send_request(ASK, response_format=OrderItem)
            with pytest.raises(Exception) as info:
                await orch.send_request(ASK)
    assert ("Refused.", "content_filter", None) == (
        answer.content,
        answer.finish_reason,
        answer.parsed,
    )
    cause = getattr(info.value, "attempts", [(None, info.value)])[-1][1]
    assert isinstance(cause, ContentFilteredError)


@pytest.mark.parametrize(
    ("message", "parameter"),
    [
        ("`temperature` is deprecated for this model.", "temperature"),
        ("`top_p` is deprecated for this model.", "top_p"),
        ("temperature: Extra inputs are not permitted", "temperature"),
        ("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.", None),
        ("messages.0.content.1: unexpected `tool_use_id`", None),
    ],
)
def test_unsupported_parameter_reads_anthropic_400s(message: str, parameter: str | None) -> None:
    """The deprecation 400s of Opus 4.7+ / Claude 5 name the parameter; other 400s do not."""
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    error = InvalidRequestError(message, provider="anthropic", status_code=400, body=body)
    assert parameter == unsupported_parameter(error)
    assert parameter == unsupported_parameter(InvalidRequestError(message))


# -- through the emulator -----------------------------------------------------------------------


def emulated(emu: ProviderEmulator, dialect: str, ledger: Path | None = None) -> Any:
    tracking = {"log_path": str(ledger)} if ledger else {"enabled": False}
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": dialect,
            "active_model": "claude-haiku-5-5",
            "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": tracking,
        }
    )
    return AsyncLLMOrchestrator(config)


@pytest.mark.parametrize("dialect", ["anthropic", "vertex"])
async def test_structured_output_round_trip(dialect: str) -> None:
    """Plain and streamed, on Anthropic and on Vertex AI: output_config goes out, parsed back."""
    with ProviderEmulator() as emu:
        async with emulated(emu, dialect) as orch:
            answer = await orch.send_request(ASK, response_format=OrderDetails)
            stream = orch.send_streaming_request(ASK, response_format=list[OrderItem])
            async for _ in stream:
                pass
        bodies = [r.body for r in emu.requests if r.model == "claude-haiku-5-5"]
    assert isinstance(answer.parsed, OrderDetails) and answer.parsed.items
    assert stream.response.parsed and isinstance(stream.response.parsed[0], OrderItem)
    assert ["object", "array"] == [b["output_config"]["format"]["schema"]["type"] for b in bodies]


async def test_cache_reads_and_writes_reach_tokens_and_the_ledger(tmp_path: Path) -> None:
    """A cached system prompt: the first call writes it (1h), the second reads it."""
    system = {
        "role": "system",
        "content": " ".join(["rule"] * 1500),
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    ledger = tmp_path / "ledger.jsonl"
    with ProviderEmulator() as emu:
        async with emulated(emu, "anthropic", ledger) as orch:
            first = await orch.send_request([system, *ASK])
            second = await orch.send_request([system, *ASK])
        sent = emu.requests[-1].body
    assert [
        {"type": "text", "text": system["content"], "cache_control": system["cache_control"]}
    ] == sent["system"]
    assert (1500, 0, 1500) == (
        first.tokens_used["cache_write"],
        first.tokens_used["cache_read"],
        first.tokens_used["cache_write_1h"],
    )
    assert (0, 1500) == (second.tokens_used["cache_write"], second.tokens_used["cache_read"])
    assert first.tokens_used["prompt"] == second.tokens_used["prompt"] == 1500 + 11
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert [(0, 1500), (1500, 0)] == [(r["cache_read"], r["cache_write"]) for r in records]


async def test_claude_4_5_on_vertex_answers_through_the_output_tool() -> None:
    """Vertex AI refuses output_config for 4.5 models: llmorch sends the forced tool instead."""
    older = "claude-sonnet-4-5@20250929"
    with ProviderEmulator() as emu:
        emu.script("vertex", older)  # serve the model; its answer comes from the forced tool
        async with emulated(emu, "vertex") as orch:
            answer = await orch.send_request(ASK, model=older, response_format=list[OrderItem])
        body = next(r.body for r in emu.requests if r.model == older)
    assert "output_config" not in body
    assert {"type": "tool", "name": "structured_output"} == body["tool_choice"]
    assert json.loads(answer.content)["value"]  # the tool's wrapped value, unwrapped into parsed
    assert answer.parsed and all(isinstance(item, OrderItem) for item in answer.parsed)
