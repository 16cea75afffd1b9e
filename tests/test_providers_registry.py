from __future__ import annotations

from typing import Any

import anyio
import pytest
import respx

from llmorch import (
    AsyncLLMOrchestrator,
    AuthenticationError,
    ConfigurationError,
    OrchestratorConfig,
    RateLimitError,
)
from llmorch.providers import load_provider_class
from tests.conftest import base_config
from tests.custom_provider import EchoProvider


def echo_config(**extra: Any) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        base_config(
            active_provider="mine",
            active_model="missing",
            providers={
                "mine": {
                    "type": "tests.custom_provider:EchoProvider",
                    "fallback_models": ["echo-1"],
                    "flavour": "extra keys are allowed for custom types",
                    **extra,
                }
            },
            pricing={"mine": {"echo-1": {"input": 1.0, "output": 2.0}}},
        )
    )


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("nonsense", "unknown provider type"),
        ("tests.nowhere:X", "cannot import"),
        ("tests.custom_provider:NotAProvider", "not a BaseLLMProvider"),
        ("tests.custom_provider:Missing", "not a BaseLLMProvider"),
    ],
)
def test_bad_provider_types_are_configuration_errors(type_name: str, message: str) -> None:
    """Unknown, unimportable or wrong classes give a ConfigurationError that says which."""
    with pytest.raises(ConfigurationError, match=message):
        load_provider_class(type_name)


def test_custom_type_loads_the_named_class() -> None:
    """`package.module:Class` loads a user's BaseLLMProvider subclass."""
    assert EchoProvider is load_provider_class("tests.custom_provider:EchoProvider")


async def test_custom_provider_runs_the_whole_flow_with_its_override_prices() -> None:
    """A user adapter gets fallback, streaming and costs from its config's pricing."""
    async with AsyncLLMOrchestrator(echo_config()) as orch:
        response = await orch.send_request([{"role": "user", "content": "hello"}])
        assert ("hello", "echo-1", "mine") == (response.content, response.model, response.provider)
        assert [("missing", "ModelNotFoundError")] == [
            (m, type(e).__name__) for m, e in response.attempts
        ]
        assert pytest.approx((5 * 1.0 + 5 * 2.0) / 1e6) == response.cost
        chunks = [
            c async for c in orch.send_streaming_request([{"role": "user", "content": "a b"}])
        ]
        assert ["a", "b"] == chunks
        assert ["echo-1", "echo-2"] == await orch.get_available_models()


async def test_base_validate_model() -> None:
    """validate_model is True when the model answers and False when it does not exist."""
    async with AsyncLLMOrchestrator(echo_config()) as orch:
        adapter = orch._adapter_map()["mine"]
        assert await adapter.validate_model("echo-1")
        assert not await adapter.validate_model("missing")
        assert "EchoProvider(name='mine')" == repr(adapter)


async def test_base_validate_model_reraises_auth_and_retryable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Auth errors and retryable errors mean "unknown", so they propagate."""
    async with AsyncLLMOrchestrator(echo_config()) as orch:
        adapter = orch._adapter_map()["mine"]
        for error in (AuthenticationError("bad key"), RateLimitError("slow")):

            async def fail(*args: Any, _e: Exception = error, **kwargs: Any) -> Any:
                raise _e

            monkeypatch.setattr(adapter, "send_request", fail)
            with pytest.raises(type(error)):
                await adapter.validate_model("echo-1")
        monkeypatch.setattr(
            adapter, "send_request", _raise(RateLimitError("quota", is_retryable=False))
        )
        assert not await adapter.validate_model("echo-1")


def _raise(error: Exception) -> Any:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


def test_the_core_runs_under_trio() -> None:
    """A smoke test: orchestrator, HTTP adapter, streams and registry run under trio."""
    messages = [{"role": "user", "content": "p q"}]

    async def main() -> list[str]:
        async with AsyncLLMOrchestrator(echo_config()) as orch:
            await orch.refresh_models()
            assert "p q" == (await orch.send_request(messages)).content
            chunks = [c async for c in orch.send_streaming_request(messages)]
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(base_config())) as orch:
            chunks.append((await orch.send_request(messages)).content)
        return chunks

    with respx.mock() as mock:
        mock.post("https://api.openai.com/v1/chat/completions").respond(
            200, json={"choices": [{"message": {"content": "over http"}, "finish_reason": "stop"}]}
        )
        assert ["p", "q", "over http"] == anyio.run(main, backend="trio")
