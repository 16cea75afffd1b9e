from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    OrchestratorConfig,
    PermissionDeniedError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from tests.conftest import base_config, fixture_bytes

OPENAI = "https://api.openai.com/v1/chat/completions"
ANTHROPIC = "https://api.anthropic.com/v1/messages"
MESSAGES = [{"role": "user", "content": "Say foo"}]


def completion(text: str = "hello", prompt: int = 10, completion_tokens: int = 5) -> dict[str, Any]:
    return {
        "model": "echo",
        "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens},
    }


def err(status: int, code: str | None = None, **headers: str) -> httpx.Response:
    body = {"error": {"message": f"failed {status}", "type": "x", "code": code}}
    return httpx.Response(status, json=body, headers=headers)


def sent_models(route: respx.Route) -> list[str]:
    return [json.loads(call.request.content)["model"] for call in route.calls]


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def orchestrator(**overrides: Any) -> AsyncLLMOrchestrator:
    return AsyncLLMOrchestrator(OrchestratorConfig.from_dict(base_config(**overrides)))


async def test_success_records_one_ledger_line_with_cost(sleeps: list[float]) -> None:
    """A plain success returns the response, costs it, and writes exactly one record."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).respond(200, json=completion(), headers={"x-request-id": "r1"})
            response = await orch.send_request(MESSAGES)
        assert ("hello", "gpt-4o", "openai") == (
            response.content,
            response.model,
            response.provider,
        )
        assert response.cost > 0
        assert response.cost == orch.get_session_cost()
    (record,) = ledger()
    assert ("gpt-4o", "echo", "r1", 10, 5) == (
        record["model"],
        record["model_answered"],
        record["request_id"],
        record["prompt"],
        record["completion"],
    )
    assert [] == sleeps


async def test_retries_then_falls_back_in_chain_order(sleeps: list[float]) -> None:
    """A retryable error retries max_retries times, then the next model answers."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[err(500), err(502), err(503), httpx.Response(200, json=completion())]
            )
            response = await orch.send_request(MESSAGES)
    assert ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"] == sent_models(route)
    assert "gpt-4o-mini" == response.model
    assert 1 == len(response.attempts)
    assert ("gpt-4o", ProviderUnavailableError) == (
        response.attempts[0][0],
        type(response.attempts[0][1]),
    )
    assert 2 == len(sleeps)
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter, 0.5 s × 2^n
    assert 1 == len(ledger())


async def test_retry_after_is_honoured_with_the_fake_clock(sleeps: list[float]) -> None:
    """429 with Retry-After waits exactly that long; retry-after-ms wins over it."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(
                side_effect=[
                    err(429, **{"retry-after": "3"}),
                    err(429, **{"retry-after": "9", "retry-after-ms": "250"}),
                    httpx.Response(200, json=completion()),
                ]
            )
            response = await orch.send_request(MESSAGES)
    assert [3.0, 0.25] == sleeps
    assert "gpt-4o" == response.model


async def test_retry_after_above_cap_moves_to_next_model_without_waiting(
    sleeps: list[float],
) -> None:
    """A server delay above max_backoff_s skips to the next model instead of sleeping."""
    config = base_config()
    config["providers"]["openai"]["max_backoff_s"] = 5
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[
                    err(429, **{"retry-after": "60"}),
                    httpx.Response(200, json=completion()),
                ]
            )
            await orch.send_request(MESSAGES)
    assert ["gpt-4o", "gpt-4o-mini"] == sent_models(route)
    assert [] == sleeps


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_stop_the_chain(status: int, sleeps: list[float]) -> None:
    """401/403 are raised as themselves at once; no other model is tried, nothing recorded."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(side_effect=[err(status)])
            with pytest.raises((AuthenticationError, PermissionDeniedError)) as info:
                await orch.send_request(MESSAGES)
    assert status == info.value.status_code
    assert ["gpt-4o"] == sent_models(route)
    assert [] == ledger()


async def test_non_retryable_errors_move_on_at_once(sleeps: list[float]) -> None:
    """404 and insufficient_quota skip straight to the next model; all failing lists attempts."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[err(404, "model_not_found"), err(429, "insufficient_quota")]
            )
            with pytest.raises(AllFallbacksFailedError) as info:
                await orch.send_request(MESSAGES)
    assert ["gpt-4o", "gpt-4o-mini"] == sent_models(route)
    attempts = info.value.attempts
    assert ["gpt-4o", "gpt-4o-mini"] == [m for m, _ in attempts]
    assert isinstance(attempts[0][1], ModelNotFoundError)
    assert isinstance(attempts[1][1], RateLimitError)
    assert "gpt-4o: ModelNotFoundError" in str(info.value)
    assert "gpt-4o-mini: RateLimitError" in str(info.value)
    assert [] == sleeps


async def test_fallback_steps_are_logged_at_warning(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Each fallback step logs model, error class and request id at WARNING."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(
                side_effect=[
                    err(404, **{"x-request-id": "req_404"}),
                    httpx.Response(200, json=completion()),
                ]
            )
            with caplog.at_level(logging.WARNING, logger="llmorch"):
                await orch.send_request(MESSAGES)
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "openai/gpt-4o" in message and "ModelNotFoundError" in message and "req_404" in message


async def test_per_call_provider_and_model_overrides() -> None:
    """provider= uses that provider's fallbacks; model= goes first; never another provider."""
    body = json.loads(fixture_bytes("anthropic_message_response.json"))
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(ANTHROPIC).mock(
                side_effect=[httpx.Response(404, json={"error": {"type": "not_found_error"}})]
                + [httpx.Response(200, json=body)] * 2
            )
            first = await orch.send_request(MESSAGES, provider="anthropic")
            second = await orch.send_request(
                MESSAGES, provider="anthropic", model="claude-opus-4-1"
            )
    assert ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"] == sent_models(route)
    assert ("anthropic", "claude-haiku-4-5") == (first.provider, first.model)
    assert "claude-opus-4-1" == second.model


async def test_unknown_provider_and_bad_messages_fail_before_any_network() -> None:
    """Bad input raises a specific error and sends nothing."""
    async with orchestrator() as orch:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.post(OPENAI)
            with pytest.raises(ConfigurationError, match="nope"):
                await orch.send_request(MESSAGES, provider="nope")
            with pytest.raises(InvalidRequestError, match=r"messages\[1\]"):
                await orch.send_request([MESSAGES[0], {"role": "robot", "content": "x"}])
            with pytest.raises(InvalidRequestError, match="empty"):
                orch.send_streaming_request([])
    assert not route.called


def sse(*objects: Any, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(o)}\n\n" for o in objects]
    return ("".join(lines) + ("data: [DONE]\n\n" if done else "")).encode()


def delta(text: str) -> dict[str, Any]:
    return {"model": "echo", "choices": [{"index": 0, "delta": {"content": text}}]}


FINISH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


def stream_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


async def test_stream_success_records_usage_from_the_stream() -> None:
    """A full stream yields its chunks, then .response carries text, usage and cost."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(
                return_value=stream_response(sse(delta("Hel"), delta("lo"), FINISH, USAGE))
            )
            async with orch.send_streaming_request(MESSAGES) as stream:
                got = [chunk async for chunk in stream]
    assert ["Hel", "lo"] == got
    response = stream.response
    assert ("Hello", "stop") == (response.content, response.finish_reason)
    assert {"prompt": 7, "completion": 3, "total": 10} == response.tokens_used
    (record,) = ledger()
    assert (True, False) == (record["complete"], record["estimated"])
    assert response.cost == record["cost"]


async def test_stream_falls_back_before_the_first_chunk(sleeps: list[float]) -> None:
    """HTTP errors and in-stream errors before any text move down the chain."""
    in_stream_error = sse({"error": {"message": "boom", "type": "invalid_request_error"}})
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[
                    stream_response(in_stream_error),
                    stream_response(sse(delta("ok"), FINISH, USAGE)),
                ]
            )
            chunks = [c async for c in orch.send_streaming_request(MESSAGES)]
    assert ["ok"] == chunks
    assert ["gpt-4o", "gpt-4o-mini"] == sent_models(route)
    assert 1 == len(ledger())


async def test_stream_failure_after_first_chunk_is_interrupted_not_spliced(
    sleeps: list[float],
) -> None:
    """An error after text raises StreamInterruptedError (cause kept), never tries another model."""
    body = sse(delta("partial "), {"error": {"message": "overloaded", "type": "server_error"}})
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(return_value=stream_response(body))
            got: list[str] = []
            with pytest.raises(StreamInterruptedError) as info:
                async for chunk in orch.send_streaming_request(MESSAGES):
                    got.append(chunk)  # noqa: PERF401 - the list must survive the raise
    assert ["partial "] == got
    assert "partial " == info.value.partial_text
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    assert ["gpt-4o"] == sent_models(route)
    (record,) = ledger()
    assert (False, True) == (record["complete"], record["estimated"])
    assert record["completion"] >= 1


async def test_anthropic_in_stream_overload_after_text_keeps_partial_usage() -> None:
    """An Anthropic overload mid-stream records the usage sent so far, flagged incomplete."""
    data = fixture_bytes("anthropic_messages_stream_basic.sse").split(b"event: content_block_stop")[
        0
    ]
    data += fixture_bytes("anthropic_stream_error_event.sse")
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(ANTHROPIC).mock(return_value=stream_response(data))
            stream = orch.send_streaming_request(MESSAGES, provider="anthropic")
            with pytest.raises(StreamInterruptedError) as info:
                async for _ in stream:
                    pass
    assert "Hello there!" == info.value.partial_text
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    (record,) = ledger()
    assert (11, False) == (record["prompt"], record["complete"])
    assert "Hello there!" == stream.response.content


async def test_closing_a_stream_early_records_an_estimate() -> None:
    """Breaking out after one chunk releases the stream and records an estimated call."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(
                return_value=stream_response(sse(delta("a" * 40), delta("b"), FINISH, USAGE))
            )
            async with orch.send_streaming_request(MESSAGES) as stream:
                async for _ in stream:
                    break
    (record,) = ledger()
    assert (False, True, 10) == (record["complete"], record["estimated"], record["completion"])
    assert "a" * 40 == stream.response.content


async def test_cancelling_a_stream_still_records_it() -> None:
    """A cancelled consumer leaves exactly one incomplete record."""

    async def body() -> AsyncIterator[bytes]:
        yield sse(delta("first"), done=False)
        await anyio.sleep(30)

    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(return_value=httpx.Response(200, stream=body()))
            with anyio.move_on_after(0.2):
                async for _ in orch.send_streaming_request(MESSAGES):
                    pass
    (record,) = ledger()
    assert record["complete"] is False


async def test_stream_without_text_or_usage_is_still_recorded() -> None:
    """An empty stream ends at once; usage is estimated from the prompt since none came."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            mock.post(OPENAI).mock(return_value=stream_response(sse(FINISH)))
            stream = orch.send_streaming_request(MESSAGES)
            assert [] == [c async for c in stream]
    assert "" == stream.response.content
    (record,) = ledger()
    assert (True, True, 2) == (record["complete"], record["estimated"], record["prompt"])


async def test_response_before_end_is_an_error() -> None:
    """Reading .response before the stream ended raises RuntimeError."""
    async with orchestrator() as orch:
        stream = orch.send_streaming_request(MESSAGES)
        with pytest.raises(RuntimeError, match="not ended"):
            _ = stream.response
        await stream.aclose()


async def test_discovery_at_start_is_concurrent_and_tolerates_a_failing_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Start lists every provider; one failing only logs a WARNING."""
    config = base_config(model_discovery={"refresh_on_start": True, "cache_path": None})
    with respx.mock() as mock:
        mock.get("https://api.openai.com/v1/models").respond(
            200, json={"data": [{"id": "gpt-4o"}, {"id": "tts-1"}]}
        )
        mock.get("https://api.anthropic.com/v1/models").respond(500, json={})
        with caplog.at_level(logging.WARNING):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                assert ["gpt-4o"] == await orch.get_available_models("openai")
    assert any("anthropic" in r.getMessage() for r in caplog.records)


async def test_get_available_models_fetches_lazily_once() -> None:
    """Without discovery at start, the first lookup lists the provider; the next uses the cache."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.get("https://api.openai.com/v1/models").respond(
                200, json={"data": [{"id": "gpt-4o"}]}
            )
            assert ["gpt-4o"] == await orch.get_available_models()
            assert ["gpt-4o"] == await orch.get_available_models("openai")
            await orch.refresh_models("openai")
    assert 2 == route.call_count


async def test_lazy_start_without_context_manager_and_double_close() -> None:
    """The first call starts the orchestrator; aclose twice is fine; use after close fails."""
    orch = orchestrator()
    with respx.mock() as mock:
        mock.post(OPENAI).respond(200, json=completion())
        await orch.send_request(MESSAGES)
    await orch.aclose()
    await orch.aclose()
    with pytest.raises(Exception, match="closed"):
        await orch.send_request(MESSAGES)


async def test_injected_http_client_is_not_closed() -> None:
    """An injected httpx client stays open after the orchestrator closes."""
    async with httpx.AsyncClient() as http:
        config = OrchestratorConfig.from_dict(base_config())
        async with AsyncLLMOrchestrator(config, http_client=http, session_id="s1") as orch:
            assert "s1" == orch.session_id
        assert not http.is_closed


async def test_conversation_keeps_history_and_failed_turns_leave_it_unchanged(
    sleeps: list[float],
) -> None:
    """send() appends both turns; a failed turn appends nothing; max_messages trims."""
    async with orchestrator() as orch:
        conv = orch.conversation(system="Be terse.", max_messages=2)
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[
                    httpx.Response(200, json=completion("one")),
                    err(401),
                    httpx.Response(200, json=completion("two")),
                ]
            )
            await conv.send("first")
            with pytest.raises(AuthenticationError):
                await conv.send("bad")
            await conv.send("second")
        sent = json.loads(route.calls[2].request.content)["messages"]
    assert [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "second"},
    ] == sent
    assert [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "two"},
    ] == conv.messages
    assert "openai" == conv.provider
    assert conv.cost > 0


async def test_conversation_stream_appends_on_completion_only() -> None:
    """A streamed turn is appended when the stream completes, not when it is cut."""
    async with orchestrator() as orch:
        conv = orch.conversation(provider="openai")
        with respx.mock() as mock:
            mock.post(OPENAI).mock(
                side_effect=[
                    stream_response(sse(delta("x"), delta("y"), FINISH, USAGE)),
                    stream_response(sse(delta("z"), delta("w"), FINISH, USAGE)),
                ]
            )
            assert ["x", "y"] == [c async for c in conv.stream("hi")]
            async with conv.stream("again") as stream:
                async for _ in stream:
                    break
    assert ["hi", "xy"] == [m["content"] for m in conv.messages]


async def test_cooldown_skips_a_recently_failed_model(sleeps: list[float]) -> None:
    """With cooldown_s, a model that just failed is skipped on the next request."""
    config = base_config()
    config["providers"]["openai"]["cooldown_s"] = 60
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[err(404)] + [httpx.Response(200, json=completion())] * 2
            )
            await orch.send_request(MESSAGES)
            await orch.send_request(MESSAGES)
    assert ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini"] == sent_models(route)


async def test_tags_reach_the_ledger_for_requests_and_streams() -> None:
    """tags= labels the call's ledger record (plain and streamed), and is not sent to the vendor."""
    async with orchestrator() as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[
                    httpx.Response(200, json=completion()),
                    stream_response(sse(delta("x"), FINISH, USAGE)),
                ]
            )
            await orch.send_request(MESSAGES, tags={"feature": "search"})
            async for _ in orch.send_streaming_request(MESSAGES, tags={"feature": "chat"}):
                pass
    assert [{"feature": "search"}, {"feature": "chat"}] == [r["tags"] for r in ledger()]
    assert all("tags" not in json.loads(call.request.content) for call in route.calls)


@pytest.mark.parametrize(
    "error",
    [
        err(400, "context_length_exceeded"),
        err(400),
        httpx.Response(
            200,
            json={"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]},
        ),
    ],
)
async def test_review_11_request_specific_errors_never_start_a_cooldown(
    error: httpx.Response, sleeps: list[float]
) -> None:
    """A prompt too long, an invalid request or a content filter says nothing about the model:
    the next request goes to the primary model again (4a56482 benched it for cooldown_s)."""
    config = base_config()
    config["providers"]["openai"]["cooldown_s"] = 300
    async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        with respx.mock() as mock:
            route = mock.post(OPENAI).mock(
                side_effect=[error] + [httpx.Response(200, json=completion())] * 2
            )
            await orch.send_request(MESSAGES)
            await orch.send_request(MESSAGES)
    assert ["gpt-4o", "gpt-4o-mini", "gpt-4o"] == sent_models(route)


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_review_15_close_while_a_call_waits_to_retry_is_an_orchestrator_error(
    transport: str,
) -> None:
    """aclose() during a retry wait: the caller gets OrchestratorError("closed"), never httpx's
    raw RuntimeError from the closed client."""
    from llmorch import OrchestratorError
    from llmorch.testing import Fault, ProviderEmulator

    async with ProviderEmulator() as emu:
        config = {
            "active_provider": "openai",
            "active_model": "gpt-4o-mini",
            "providers": {"openai": emu.config_for("openai")},
            "cost_tracking": {"enabled": False},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "http_transport": transport,
        }
        emu.script("openai", "gpt-4o-mini", Fault.rate_limit(retry_after=0.3))
        orch = AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config))
        await orch.start()
        outcome: list[BaseException] = []

        async def call() -> None:
            try:
                await orch.send_request(MESSAGES)
            except BaseException as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.sleep(0.1)
            await orch.aclose()
    [error] = outcome
    assert type(error) is OrchestratorError, repr(error)
    assert "closed" in str(error)
