"""Budgets in one process (JSON-lines ledger): reserve before I/O, settle on record, release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmorch import AsyncLLMOrchestrator, BudgetExceededError, OrchestratorConfig
from llmorch.budgets import prompt_bytes, window_of, worst_case_usd
from llmorch.messages import validate_messages
from llmorch.pricing import ModelPrice
from llmorch.request import ChatRequest
from llmorch.testing import Fault, ProviderEmulator
from tests.emulated import one_provider

MESSAGES = [{"role": "user", "content": "hello there"}]
PRICE = {"input": 1000.0, "output": 2000.0}  # USD per million: a call costs cents


def _config(emu: ProviderEmulator, ledger: Path, limit: float, **top: Any) -> dict[str, Any]:
    config = one_provider(emu, "openai", "gpt-5.4-mini", ledger, max_retries=0)
    config["pricing"] = {"openai": {"gpt-5.4-mini": PRICE}}
    config["budgets"] = [{"name": "team", "limit_usd": limit, "window": "day"}]
    config["cost_tracking"]["spool_path"] = str(ledger.with_suffix(".spool"))
    return config | top


def _worst(max_tokens: int) -> float:
    request = ChatRequest(validate_messages(MESSAGES), "gpt-5.4-mini", max_tokens=max_tokens)
    return worst_case_usd(ModelPrice(**PRICE), prompt_bytes(request), max_tokens)


def _chat_requests(emu: ProviderEmulator) -> int:
    return sum(1 for r in emu.requests if r.path.endswith("/chat/completions"))


async def test_calls_stop_at_the_limit_before_any_network_call(tmp_path: Path) -> None:
    """Three worst cases fit: the fourth call is refused, never sent, and spend stays under."""
    async with ProviderEmulator() as emu:
        limit = _worst(50) * 3.5
        config = OrchestratorConfig.from_dict(_config(emu, tmp_path / "l.jsonl", limit))
        async with AsyncLLMOrchestrator(config) as orch:
            costs = [(await orch.send_request(MESSAGES, max_tokens=50)).cost for _ in range(3)]
            state = (await orch.budgets())[0]
            assert state["spent_usd"] == pytest.approx(sum(costs))
            assert state["reserved_usd"] == 0
            # The actual costs were far below the worst case, so more calls fit, until one doesn't.
            sent = 3
            with pytest.raises(BudgetExceededError) as info:
                for _ in range(200):
                    await orch.send_request(MESSAGES, max_tokens=50)
                    sent += 1
            assert _chat_requests(emu) == sent
            err = info.value
            assert err.reason == "limit" and err.budget == "team"
            assert err.requested_usd == pytest.approx(_worst(50), rel=1e-6)
            assert err.spent_usd is not None and err.spent_usd + err.requested_usd > limit
            lines = (tmp_path / "l.jsonl").read_text().splitlines()
            spent = sum(json.loads(line)["cost"] for line in lines)
            assert spent <= limit
            assert (await orch.budgets())[0]["spent_usd"] == pytest.approx(spent)


async def test_a_failed_attempt_releases_its_reservation(tmp_path: Path) -> None:
    """A 500 before any answer is unbilled: the reservation goes, and nothing is recorded."""
    async with ProviderEmulator() as emu:
        emu.script("openai", "gpt-5.4-mini", Fault.http(500))
        config = OrchestratorConfig.from_dict(_config(emu, tmp_path / "l.jsonl", 1.0))
        async with AsyncLLMOrchestrator(config) as orch:
            with pytest.raises(Exception, match="500|server"):
                await orch.send_request(MESSAGES, max_tokens=50)
            state = (await orch.budgets())[0]
            assert state["reserved_usd"] == 0 and state["spent_usd"] == 0


async def test_streams_settle_on_their_record(tmp_path: Path) -> None:
    """A stream closed early is recorded; its reservation settles to that record's cost."""
    async with ProviderEmulator() as emu:
        config = OrchestratorConfig.from_dict(_config(emu, tmp_path / "l.jsonl", 1.0))
        async with AsyncLLMOrchestrator(config) as orch:
            stream = orch.send_streaming_request(MESSAGES, max_tokens=50)
            async for _ in stream:
                break
            await stream.aclose()
            state = (await orch.budgets())[0]
            assert state["reserved_usd"] == 0
            assert state["spent_usd"] == pytest.approx(stream.response.cost)
            assert stream.response.cost > 0


async def test_an_unpriced_model_under_a_budget_is_refused(tmp_path: Path) -> None:
    async with ProviderEmulator() as emu:
        raw = _config(emu, tmp_path / "l.jsonl", 1.0)
        raw["pricing"] = {}
        raw["active_model"] = "my-own-model"
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
            with pytest.raises(BudgetExceededError, match="no price") as info:
                await orch.send_request(MESSAGES, max_tokens=5)
            assert info.value.reason == "unpriced"
            assert _chat_requests(emu) == 0


async def test_budgets_match_by_tag_and_leave_other_calls_alone(tmp_path: Path) -> None:
    """A budget on tag feature=search at $0 refuses those calls only."""
    async with ProviderEmulator() as emu:
        raw = _config(emu, tmp_path / "l.jsonl", 0.0)
        raw["budgets"][0]["match"] = {"tags": {"feature": "search"}}
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
            with pytest.raises(BudgetExceededError):
                await orch.send_request(MESSAGES, max_tokens=5, tags={"feature": "search"})
            ok = await orch.send_request(MESSAGES, max_tokens=5, tags={"feature": "chat"})
            assert ok.cost > 0
            assert _chat_requests(emu) == 1


def test_windows_are_utc_calendar_days_and_months() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)
    assert window_of("day", now)[0] == "2026-12-31"
    key, start, end = window_of("month", now)
    assert key == "2026-12" and start == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert end == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert window_of("total", now) == ("total", None, None)


def test_the_worst_case_takes_the_highest_rates() -> None:
    price = ModelPrice(input=1, output=2, cache_write=3, output_long=5)
    assert worst_case_usd(price, 1_000_000, 1_000_000) == pytest.approx(3 + 5)


def test_the_prompt_bound_counts_every_input() -> None:
    """Text, media bytes, tool calls, reasoning, tool definitions and the schema all count."""
    from llmorch.messages import ReasoningItem
    from llmorch.output import ResponseFormat
    from llmorch.parts import DocumentPart, ImagePart, TextPart
    from llmorch.request import ChatMessage
    from llmorch.tools import Tool, ToolCall

    base = ChatRequest((ChatMessage("user", (TextPart("héllo"),)),), "m")
    assert prompt_bytes(base) == 16 + len("héllo".encode())
    image = ImagePart("image/png", data=b"x" * 1000)
    url = ImagePart("image/png", url="https://example.com/a.png")
    doc = DocumentPart("application/pdf", b"y" * 500)
    media = ChatRequest((ChatMessage("user", (image, url, doc)),), "m")
    assert prompt_bytes(media) == 16 + 1000 + len("https://example.com/a.png") + 500
    call = ToolCall("c1", "lookup", {"q": "x"}, '{"q": "x"}')
    turn = ChatMessage("assistant", (), tool_calls=(call,), reasoning=(ReasoningItem("think"),))
    tool = Tool("lookup", "finds things", {"type": "object", "properties": {}})
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    full = ChatRequest(
        (turn,), "m", tools=(tool,), response_format=ResponseFormat("json_schema", schema=schema)
    )
    assert prompt_bytes(full) > 16 + len("lookup") + len("think") + len(json.dumps(schema))


def test_the_output_bound_follows_max_tokens_the_table_or_the_vendor_default() -> None:
    from llmorch.budgets import _max_output
    from llmorch.request import Reasoning

    messages = validate_messages(MESSAGES)
    assert _max_output(ChatRequest(messages, "gpt-5.4-mini", max_tokens=7), "openai") == 7
    thinking = ChatRequest(
        messages, "claude-x", max_tokens=100, reasoning=Reasoning(budget_tokens=2000)
    )
    assert _max_output(thinking, "anthropic") == 2100
    assert _max_output(ChatRequest(messages, "claude-unknown-9"), "anthropic") == 4096
    assert _max_output(ChatRequest(messages, "claude-unknown-9"), "vertex") == 4096
    assert _max_output(ChatRequest(messages, "nobody-knows-this"), "openai") is None


async def test_a_model_without_a_known_ceiling_needs_max_tokens(tmp_path: Path) -> None:
    async with ProviderEmulator() as emu:
        raw = _config(emu, tmp_path / "l.jsonl", 1.0)
        raw["active_model"] = "gpt-unheard-of"
        raw["pricing"] = {"openai": {"gpt-unheard-of": PRICE}}
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
            with pytest.raises(BudgetExceededError, match="set max_tokens") as info:
                await orch.send_request(MESSAGES)
            assert info.value.reason == "unbounded"
            assert _chat_requests(emu) == 0


@pytest.mark.parametrize("fail_open", [False, True])
async def test_a_ledger_that_is_down_fails_closed_unless_told_otherwise(
    tmp_path: Path, fail_open: bool
) -> None:
    """Once a write was refused the ledger counts as down: budgets fail at once, or open."""
    async with ProviderEmulator() as emu:
        raw = _config(emu, tmp_path / "l.jsonl", 1.0, budgets_fail_open=fail_open)
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(raw)) as orch:
            orch.cost_tracker._outage = True  # as after a refused write
            orch.cost_tracker._retry_at = float("inf")
            if fail_open:
                ok = await orch.send_request(MESSAGES, max_tokens=5)
                assert ok.cost > 0 and _chat_requests(emu) == 1
            else:
                with pytest.raises(BudgetExceededError, match="unreachable") as info:
                    await orch.send_request(MESSAGES, max_tokens=5)
                assert info.value.reason == "unavailable" and info.value.budget is None
                assert _chat_requests(emu) == 0
