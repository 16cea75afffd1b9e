"""Issue 14's capability acceptance over the emulator's real sockets.

``unsupported: warn | error | drop`` each do what the docs say for a parameter the table says a
model rejects (``temperature`` to a Claude 5 model on Anthropic and Bedrock, a temperature other
than 1 to an OpenAI reasoning model); a model newer than the table learns from the vendor's 400
and retries once (two requests the first time, one afterwards).

The warning log and the learned facts are process-wide, so each test uses model ids of its own
(scripting a model makes the emulator serve it; the table matches them by pattern).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    InvalidRequestError,
    OrchestratorConfig,
)
from llmorch.testing import Fault, ProviderEmulator, RecordedRequest, Reply
from tests.emulated import orch_for

ASK = [{"role": "user", "content": "Say hello."}]
# A Claude 5 model on each provider that serves Claude: the table says it rejects temperature.
CLAUDE_5 = [
    ("anthropic", "claude-opus-5-5"),
    ("vertex", "claude-opus-5-5"),
    ("bedrock", "us.anthropic.claude-opus-5-5"),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def fresh(emu: ProviderEmulator) -> ProviderEmulator:
    emu.clear()
    return emu


def own(model: str, tag: str) -> str:
    """A model id of this test's own that the table's patterns still match."""
    return f"{model}-{tag}"


def chats(emu: ProviderEmulator, model: str) -> list[RecordedRequest]:
    return [r for r in emu.requests if r.model == model and r.body is not None]


def sent(request: RecordedRequest, parameter: str) -> Any:
    """The value a request carried for a llmorch parameter, in the vendor's spelling."""
    body = request.body
    if request.dialect == "openai":
        return body.get(parameter)
    if request.dialect == "bedrock":
        if parameter == "top_k":  # a Claude model field
            return body.get("additionalModelRequestFields", {}).get("top_k")
        spelling = {"temperature": "temperature", "top_p": "topP"}
        return body.get("inferenceConfig", {}).get(spelling[parameter])
    if request.dialect in ("gemini", "vertex") and "generationConfig" in body:
        spelling = {"temperature": "temperature", "top_p": "topP", "top_k": "topK"}
        return body["generationConfig"].get(spelling[parameter])
    return body.get(parameter)  # Anthropic Messages, also Claude on Vertex


def warnings_logged(caplog: pytest.LogCaptureFixture, parameter: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING
        and r.name.startswith("llmorch")
        and parameter in r.getMessage()
    ]


def records(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines()]


# --------------------------------------------------------------------------- warn, error, drop


@pytest.mark.parametrize(("dialect", "base"), CLAUDE_5, ids=[d for d, _ in CLAUDE_5])
async def test_warn_removes_the_parameter_and_logs_once_per_model(
    fresh: ProviderEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
    base: str,
) -> None:
    """The default policy: removed, listed in response.warnings, one WARNING per (model,
    parameter) however many calls."""
    model = own(base, "warn")
    fresh.script(dialect, model, Reply("Hello."), Reply("Hello again."))
    caplog.set_level(logging.WARNING, logger="llmorch")
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        first = await orch.send_request(ASK, temperature=0.2)
        second = await orch.send_request(ASK, temperature=0.7)
    for response in (first, second):
        assert response.content.startswith("Hello")
        assert any("temperature" in w for w in response.warnings), response.warnings
    requests = chats(fresh, model)
    assert len(requests) == 2
    assert all(sent(r, "temperature") is None for r in requests)
    assert len(warnings_logged(caplog, "temperature")) == 1


@pytest.mark.parametrize(("dialect", "base"), CLAUDE_5, ids=[d for d, _ in CLAUDE_5])
async def test_error_refuses_before_any_request(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, base: str
) -> None:
    """``unsupported: error`` raises InvalidRequestError naming the parameter; nothing is sent."""
    model = own(base, "error")
    fresh.script(dialect, model, Reply("never sent"))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger, unsupported="error") as orch:
        with pytest.raises(InvalidRequestError, match="temperature"):
            await orch.send_request(ASK, temperature=0.2)
    assert chats(fresh, model) == []
    assert records(ledger) == []


@pytest.mark.parametrize(("dialect", "base"), CLAUDE_5, ids=[d for d, _ in CLAUDE_5])
async def test_drop_removes_and_lists_without_logging(
    fresh: ProviderEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
    base: str,
) -> None:
    """``unsupported: drop``: removed and listed in response.warnings, nothing logged."""
    model = own(base, "drop")
    fresh.script(dialect, model, Reply("Hello."))
    caplog.set_level(logging.DEBUG, logger="llmorch")
    async with orch_for(fresh, dialect, model, tmp_path / "l.jsonl", unsupported="drop") as orch:
        response = await orch.send_request(ASK, temperature=0.2, top_p=0.9)
    assert any("temperature" in w for w in response.warnings)
    assert any("top_p" in w for w in response.warnings)
    (request,) = chats(fresh, model)
    assert sent(request, "temperature") is None and sent(request, "top_p") is None
    assert warnings_logged(caplog, "temperature") == []


@pytest.mark.parametrize(("dialect", "base"), CLAUDE_5, ids=[d for d, _ in CLAUDE_5])
async def test_a_parameter_the_model_takes_is_sent_without_warnings(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, base: str
) -> None:
    """Claude 5 still takes top_k (SPEC 2.10): sent, nothing listed, even under ``error``."""
    model = own(base, "accepted")
    fresh.script(dialect, model, Reply("Hello."))
    async with orch_for(fresh, dialect, model, tmp_path / "l.jsonl", unsupported="error") as orch:
        response = await orch.send_request(ASK, top_k=5, stop=["END"])
    assert response.warnings == []
    (request,) = chats(fresh, model)
    assert sent(request, "top_k") == 5


async def test_a_temperature_other_than_one_to_an_openai_reasoning_model(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """``only_default: {temperature: 1}``: 0.2 is removed with a warning, 1 is sent as is."""
    model = own("gpt-5-mini", "defaults")  # gpt-5 always reasons (gpt-5.1+ only when asked)
    fresh.script(dialect := "openai", model, Reply("a"), Reply("b"))
    async with orch_for(fresh, dialect, model, tmp_path / "l.jsonl") as orch:
        changed = await orch.send_request(ASK, temperature=0.2)
        default = await orch.send_request(ASK, temperature=1)
    first, second = chats(fresh, model)
    assert sent(first, "temperature") is None
    assert any("temperature" in w for w in changed.warnings)
    assert sent(second, "temperature") == 1
    assert default.warnings == []


async def test_a_fallback_chain_is_fitted_model_by_model(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """The Claude 5 model gets no temperature; the older model after it gets it."""
    claude_5, older = own("claude-opus-5-5", "chain"), "claude-opus-4-5-20251101"
    fresh.script("anthropic", claude_5, Fault.http(500))
    fresh.script("anthropic", older, Reply("From the older model."))
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "anthropic",
            "active_model": claude_5,
            "providers": {
                "anthropic": fresh.config_for("anthropic")
                | {"fallback_models": [older], "max_retries": 0}
            },
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": str(tmp_path / "l.jsonl")},
        }
    )
    async with AsyncLLMOrchestrator(config) as orch:
        response = await orch.send_request(ASK, temperature=0.3)
    assert response.content == "From the older model."
    (first,) = chats(fresh, claude_5)
    (second,) = chats(fresh, older)
    assert sent(first, "temperature") is None
    assert sent(second, "temperature") == 0.3


# --------------------------------------------------------------------------- learned from a 400

# A model newer than the table on each vendor and the 400 its vendor answers when the call sets
# temperature (the vendors' own wording; sources in docs/capabilities.md). ``None``: the
# emulator's own rule refuses it (the Anthropic dialect, and Claude on Vertex, refuse sampling for
# any Claude of generation 5 or later, as the API does); otherwise the 400 is scripted.
NEWER: list[tuple[str, str, str | None]] = [
    (
        "openai",
        "gpt-9-preview",
        (
            "Unsupported value: 'temperature' does not support 0.3 with this model. "
            "Only the default (1) value is supported."
        ),
    ),
    ("anthropic", "claude-opus-9-0", None),
    ("vertex", "claude-opus-9-0", None),  # Vertex relays Claude's own 400
    (
        "bedrock",
        "us.anthropic.claude-opus-9-0",
        "The model returned the following errors: `temperature` is deprecated for this model.",
    ),
]


def refusals(message: str | None, count: int) -> tuple[Fault, ...]:
    """The scripted 400s for ``count`` calls that set temperature (none where the emulator's
    rule refuses by itself)."""
    return () if message is None else (Fault.http(400, message=message),) * count


@pytest.mark.parametrize(("dialect", "base", "message"), NEWER, ids=[d for d, _, _ in NEWER])
async def test_a_400_teaches_the_fact_two_requests_then_one(
    fresh: ProviderEmulator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    dialect: str,
    base: str,
    message: str | None,
) -> None:
    """First call: the 400, then the same model again without the parameter (2 requests).
    Later calls: fitted from the start (1 request)."""
    model = own(base, "learn")
    fresh.script(dialect, model, *refusals(message, 1), Reply("one"), Reply("two"))
    caplog.set_level(logging.WARNING, logger="llmorch")
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        first = await orch.send_request(ASK, temperature=0.3)
        assert first.content == "one"
        requests = chats(fresh, model)
        assert len(requests) == 2
        assert sent(requests[0], "temperature") == 0.3
        assert sent(requests[1], "temperature") is None
        assert any("temperature" in w for w in first.warnings)

        second = await orch.send_request(ASK, temperature=0.3)
    assert second.content == "two"
    assert len(chats(fresh, model)) == 3  # one more request, without temperature
    assert sent(chats(fresh, model)[2], "temperature") is None
    assert any("temperature" in w for w in second.warnings)
    assert len(warnings_logged(caplog, "temperature")) == 1
    assert len(records(ledger)) == 2  # the 400 bills nothing


@pytest.mark.parametrize(("dialect", "base", "message"), NEWER, ids=[d for d, _, _ in NEWER])
async def test_with_error_a_400_is_raised_and_nothing_is_learned(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, base: str, message: str | None
) -> None:
    """``unsupported: error``: the vendor's 400 is raised, and the next call sends the
    parameter again (one request each)."""
    model = own(base, "nolearn")
    fresh.script(dialect, model, *refusals(message, 2))
    async with orch_for(fresh, dialect, model, tmp_path / "l.jsonl", unsupported="error") as orch:
        for _ in range(2):
            with pytest.raises(AllFallbacksFailedError) as info:
                await orch.send_request(ASK, temperature=0.3)
            ((_, error),) = info.value.attempts
            assert isinstance(error, InvalidRequestError) and "temperature" in str(error)
    requests = chats(fresh, model)
    assert len(requests) == 2
    assert [sent(r, "temperature") for r in requests] == [0.3, 0.3]


async def test_another_400_is_raised_as_before(fresh: ProviderEmulator, tmp_path: Path) -> None:
    """A 400 that names no unsupported parameter is not retried."""
    model = own("claude-opus-4-5", "other400")  # a model that takes temperature
    fresh.script("anthropic", model, Fault.http(400, message="messages: at least one message"))
    async with orch_for(fresh, "anthropic", model, tmp_path / "l.jsonl") as orch:
        with pytest.raises(AllFallbacksFailedError, match="at least one message"):
            await orch.send_request(ASK, temperature=0.3)
    assert len(chats(fresh, model)) == 1


async def test_a_400_for_a_parameter_the_call_did_not_set_is_not_retried(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """The learned retry needs the request to have set what the 400 names."""
    model = own("claude-opus-4-5", "notset")
    fresh.script(
        "anthropic", model, Fault.http(400, message="`temperature` is deprecated for this model.")
    )
    async with orch_for(fresh, "anthropic", model, tmp_path / "l.jsonl") as orch:
        with pytest.raises(AllFallbacksFailedError, match="temperature"):
            await orch.send_request(ASK)
    assert len(chats(fresh, model)) == 1


# --------------------------------------------------------------------------- streams


async def test_a_stream_carries_the_warnings_and_learns_too(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """A stream opened on a model newer than the table: the 400 comes before any event, so
    the same model is asked again without temperature; stream.response lists the warning."""
    model = own("claude-opus-9-0", "stream")  # the Anthropic dialect refuses its temperature
    fresh.script("anthropic", model, Reply("Hello there."), Reply("Again."))
    async with orch_for(fresh, "anthropic", model, tmp_path / "l.jsonl") as orch:
        first = orch.send_streaming_request(ASK, temperature=0.3)
        assert "".join([chunk async for chunk in first]) == "Hello there."
        assert len(chats(fresh, model)) == 2
        second = orch.send_streaming_request(ASK, temperature=0.3)
        assert "".join([chunk async for chunk in second]) == "Again."
    assert len(chats(fresh, model)) == 3
    assert [sent(r, "temperature") for r in chats(fresh, model)] == [0.3, None, None]
    for stream in (first, second):
        assert any("temperature" in w for w in stream.response.warnings)


@pytest.mark.parametrize(("dialect", "base"), CLAUDE_5, ids=[d for d, _ in CLAUDE_5])
async def test_error_refuses_a_stream_before_any_request(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, base: str
) -> None:
    """``unsupported: error`` refuses a stream when it is opened, before any request."""
    model = own(base, "streamerror")
    fresh.script(dialect, model, Reply("never sent"))
    async with orch_for(fresh, dialect, model, tmp_path / "l.jsonl", unsupported="error") as orch:
        with pytest.raises(InvalidRequestError, match="top_p"):
            stream = orch.send_streaming_request(ASK, top_p=0.5)
            async for _ in stream:
                pass
    assert chats(fresh, model) == []
