"""Billing dimensions beyond token counts: service tiers, inference geo, server-tool fees.

A call that reports one is priced at that tier where the table has it, and otherwise recorded
unpriced with one WARNING — never silently at the standard rate (issue 12, "Prices").
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
from llmorch.costs import CostTracker
from llmorch.pricing import DEFAULT_PRICES, ModelPrice, price_for_dimensions, usage_dimensions
from tests.rawhttp import Writer, json_response, openai_config, raw_upstream

M = {"prompt": 1_000_000, "completion": 1_000_000}


def test_usage_dimensions_reads_openai_and_anthropic_answers() -> None:
    """Standard values are left out; anything else is reported by name."""
    assert usage_dimensions(None) == {}
    assert usage_dimensions({"service_tier": "default", "usage": {}}) == {}
    assert usage_dimensions({"service_tier": "Flex"}) == {"service_tier": "flex"}
    anthropic = {
        "usage": {
            "service_tier": "priority",
            "inference_geo": "us",
            "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0},
        }
    }
    assert usage_dimensions(anthropic) == {
        "service_tier": "priority",
        "inference_geo": "us",
        "server_tool_use": "web_search_requests",
    }
    quiet = {
        "usage": {"service_tier": "standard", "inference_geo": "global", "server_tool_use": {}}
    }
    assert usage_dimensions(quiet) == {}


def test_service_tier_priced_at_that_tier() -> None:
    """OpenAI Flex and Priority use the tier's prices where the table lists them."""
    t = CostTracker(enabled=False, log_path=None)
    standard = t.price("openai", "gpt-5", M)[0]
    flex = t.price("openai", "gpt-5", M, dimensions={"service_tier": "flex"})
    priority = t.price("openai", "gpt-5", M, dimensions={"service_tier": "priority"})
    assert standard == pytest.approx(11.25)
    assert flex[0] == pytest.approx(5.625) and flex[2]
    assert priority[0] == pytest.approx(22.5) and priority[2]
    assert DEFAULT_PRICES["openai"]["gpt-5.4"].service_tiers["flex"].cache_read == 0.13


def test_unpriced_dimension_is_unpriced_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A tier, geo or tool fee the table lacks gives cost 0, priced=False and one WARNING."""
    t = CostTracker(enabled=False, log_path=None)
    with caplog.at_level(logging.WARNING, logger="llmorch.costs"):
        for _ in range(3):
            assert t.price("openai", "gpt-5-nano", M, dimensions={"service_tier": "priority"}) == (
                0.0,
                None,
                False,
            )
        geo = t.log_usage("anthropic", "claude-opus-5", M, "s", dimensions={"inference_geo": "us"})
        tools = t.price(
            "anthropic", "claude-opus-5", M, dimensions={"server_tool_use": "web_search_requests"}
        )
    assert (geo.cost, geo.priced, geo.pricing_as_of) == (0.0, False, None)
    assert tools == (0.0, None, False)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "service tier 'priority'" in messages[0] and "gpt-5-nano" in messages[0]


def test_price_for_dimensions_keeps_the_standard_price_for_none() -> None:
    """No dimension: the price itself."""
    price = ModelPrice(1.0, 2.0)
    assert price_for_dimensions(price, {}) == (price, None)


async def _answer(model: str, tier: str) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion",
        "model": model,
        "service_tier": tier,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 1_000_000,
            "completion_tokens": 1_000_000,
            "total_tokens": 2_000_000,
        },
    }
    return json_response(json.dumps(body).encode())


@pytest.mark.parametrize(
    ("model", "tier", "cost", "priced"),
    [
        ("gpt-5", "flex", 5.625, True),
        ("gpt-5", "default", 11.25, True),
        ("gpt-4o-mini", "priority", 0.0, False),
    ],
)
async def test_service_tier_in_a_real_answer_reaches_the_ledger(
    tmp_path: Path, model: str, tier: str, cost: float, priced: bool
) -> None:
    """The tier an OpenAI answer reports (over a real socket) decides the recorded cost."""
    answer = await _answer(model, tier)

    async def scene(writer: Writer, stream: bool) -> bool:
        writer.write(answer)
        await writer.drain()
        return True

    ledger = tmp_path / "costs.log"
    async with raw_upstream(scene) as upstream:
        config: dict[str, Any] = openai_config(upstream.base_url, "httpx", str(ledger))
        config["active_model"] = model
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
            response = await orch.send_request([{"role": "user", "content": "hi"}])
    record = json.loads(ledger.read_text().splitlines()[0])
    assert response.cost == pytest.approx(cost)
    assert (record["cost"], record["priced"]) == (pytest.approx(cost), priced)
