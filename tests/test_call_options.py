"""Per-call options (SPEC §2.9): timeout, extra_body, extra_headers; fields llmorch owns.

Also review.md 18: `send_request(..., stream=True)` made six billed, unrecorded vendor calls.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, InvalidRequestError, LLMOrchestrator, OrchestratorConfig
from tests.conftest import base_config

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
MESSAGES = [{"role": "user", "content": "hi"}]
OPENAI_OK = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": {}}


def config(**overrides: Any) -> OrchestratorConfig:
    raw = base_config(**overrides)
    raw["providers"]["gemini"] = {"api_key": "g", "fallback_models": ["gemini-2.5-flash"]}
    return OrchestratorConfig.from_dict(raw)


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"stream": True}, "send_streaming_request"),
        ({"extra_body": {"messages": []}}, "first argument"),
        ({"stream_options": {"include_usage": False}}, "usage"),
        ({"extra_body": {"model": "other"}}, "pass model="),
        ({"extra_body": {"stream": True}}, "send_streaming_request"),
    ],
)
async def test_review_18_fields_llmorch_owns_are_refused_before_any_call(
    kwargs: dict[str, Any], hint: str
) -> None:
    """`stream=True` (or `messages`, `model` through extra_body) is an InvalidRequestError
    naming the field, raised before any network call (4a56482: 6 billed calls, 0 records)."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(OPENAI).respond(200, json=OPENAI_OK)
        async with AsyncLLMOrchestrator(config()) as orch:
            with pytest.raises(InvalidRequestError, match=hint):
                await orch.send_request(MESSAGES, **kwargs)
            with pytest.raises(InvalidRequestError, match=hint):
                orch.send_streaming_request(MESSAGES, **kwargs)
    assert 0 == route.call_count


@pytest.mark.parametrize(
    ("provider", "url", "owned"),
    [("anthropic", ANTHROPIC, "system"), ("gemini", GEMINI, "contents")],
)
async def test_review_18_owned_fields_are_per_vendor(provider: str, url: str, owned: str) -> None:
    """Each vendor's own structural fields are refused too."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url).respond(200, json={})
        async with AsyncLLMOrchestrator(config()) as orch:
            with pytest.raises(InvalidRequestError, match=repr(owned)):
                await orch.send_request(MESSAGES, provider=provider, extra_body={owned: "x"})
    assert 0 == route.call_count


async def test_extra_body_is_deep_merged_and_extra_headers_are_sent() -> None:
    """Dicts merge into what llmorch built, other values replace; headers are added."""
    gemini_ok = {"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}
    with respx.mock() as mock:
        route = mock.post(GEMINI).respond(200, json=gemini_ok)
        openai = mock.post(OPENAI).respond(200, json=OPENAI_OK)
        async with AsyncLLMOrchestrator(config()) as orch:
            await orch.send_request(
                MESSAGES,
                provider="gemini",
                temperature=0.2,
                extra_body={"generationConfig": {"topK": 40}, "labels": {"team": "a"}},
                extra_headers={"x-trace": "t-1"},
            )
            await orch.send_request(MESSAGES, extra_body={"seed": 7, "metadata": {"a": "b"}})
    body = json.loads(route.calls[0].request.content)
    assert {"temperature": 0.2, "topK": 40} == body["generationConfig"]
    assert {"team": "a"} == body["labels"]
    assert "t-1" == route.calls[0].request.headers["x-trace"]
    sent = json.loads(openai.calls[0].request.content)
    assert (7, {"a": "b"}, "gpt-4o") == (sent["seed"], sent["metadata"], sent["model"])


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "X-Goog-Api-Key", "x-amz-date"])
async def test_extra_headers_may_not_carry_credentials(header: str) -> None:
    """Credentials come from the config; a call cannot swap them in through a header."""
    async with AsyncLLMOrchestrator(config()) as orch:
        with pytest.raises(InvalidRequestError, match="extra_headers may not set"):
            await orch.send_request(MESSAGES, extra_headers={header: "x"})


@pytest.mark.parametrize("value", [0, -1, float("nan"), "5", True])
async def test_a_malformed_timeout_is_refused(value: Any) -> None:
    """timeout= is a positive number of seconds or an httpx.Timeout."""
    async with AsyncLLMOrchestrator(config()) as orch:
        with pytest.raises(InvalidRequestError, match="timeout"):
            await orch.send_request(MESSAGES, timeout=value)


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"n": 2}, "one answer per call"),
        ({"logprobs": True}, "extra_body={'logprobs': True}"),
        ({"temprature": 0.2}, "The calls accept provider, model, temperature"),
        ({"user": "u1"}, "vendor fields go in extra_body"),
    ],
)
async def test_newcomer_5_unknown_kwargs_are_refused_naming_extra_body(
    kwargs: dict[str, object], hint: str
) -> None:
    """An unknown keyword is refused before any I/O, naming it, what is accepted, and
    extra_body (the hardening issue's DeprecationWarning became this refusal)."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(OPENAI).respond(200, json=OPENAI_OK)
        async with AsyncLLMOrchestrator(config()) as orch:
            for call in (orch.send_request, orch.send_streaming_request):
                with pytest.raises(InvalidRequestError) as info:
                    await call(MESSAGES, **kwargs)  # type: ignore[misc]
                assert repr(next(iter(kwargs))) in str(info.value)
                assert hint in str(info.value)
                assert "extra_body" in str(info.value)
    assert route.calls == []


async def test_newcomer_5_timeout_is_a_per_call_option_not_a_body_field() -> None:
    """`timeout=5` bounds the call; it never reaches the vendor body (4a56482 sent it)."""
    with respx.mock() as mock:
        route = mock.post(OPENAI).respond(200, json=OPENAI_OK)
        async with AsyncLLMOrchestrator(config()) as orch:
            await orch.send_request(MESSAGES, timeout=5)
            await orch.send_request(MESSAGES, timeout=httpx.Timeout(5.0, connect=1.0))
    for sent in route.calls:
        assert "timeout" not in json.loads(sent.request.content)
    assert 5.0 == route.calls[0].request.extensions["timeout"]["read"]
    assert 1.0 == route.calls[1].request.extensions["timeout"]["connect"]


def test_the_sync_facade_takes_the_same_options() -> None:
    """The sync facade passes every option through."""
    with respx.mock() as mock:
        route = mock.post(OPENAI).respond(200, json=OPENAI_OK)
        with LLMOrchestrator(config()) as orch:
            orch.send_request(
                MESSAGES, timeout=3, extra_body={"seed": 1}, extra_headers={"x-a": "b"}
            )
    request = route.calls[0].request
    assert (1, "b") == (json.loads(request.content)["seed"], request.headers["x-a"])
