from __future__ import annotations

import logging
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


# -- adapters on first use (review 1, newcomer 3) -----------------------------------------------

UNSET = "LLMORCH_TEST_NEVER_SET"


class CountingProvider(EchoProvider):
    """An echo provider that records every construction."""

    built: list[str] = []

    def __init__(self, name: str, config: Any, http: Any) -> None:
        CountingProvider.built.append(name)
        super().__init__(name, config, http)


def _unused_unset_providers(emu: Any) -> dict[str, Any]:
    """OpenAI on the emulator, plus two providers whose secrets name an unset variable."""
    return {
        "openai": emu.config_for("openai"),
        "anthropic": {"api_key": f"${{{UNSET}}}"},
        "bedrock": {"aws_access_key_id": "AKID", "aws_secret_access_key": f"${{{UNSET}_2}}"},
    }


def _config(providers: dict[str, Any], **discovery: Any) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": next(iter(providers)),
            "active_model": "echo-1",
            "providers": providers,
            "cost_tracking": {"enabled": False},
            "model_discovery": {"refresh_on_start": True, "cache_path": None, **discovery},
        }
    )


async def test_review_1_creating_the_orchestrator_and_its_registry_builds_no_adapter() -> None:
    """Neither the orchestrator, its registry, start-up nor a cache read builds an adapter."""
    counting = {"type": "tests.test_providers_registry:CountingProvider"}
    config = _config({"p1": counting, "p2": counting}, refresh_on_start=False)
    CountingProvider.built.clear()
    orch = AsyncLLMOrchestrator(config)
    assert not orch.registry.has_fetched("p2")
    async with orch:
        assert orch.registry.get_available_models("p2") == []
        assert CountingProvider.built == []
        await orch.send_request([{"role": "user", "content": "hi"}])
        assert CountingProvider.built == ["p1"]
        assert ["echo-1", "echo-2"] == await orch.get_available_models("p2")
    assert CountingProvider.built == ["p1", "p2"]


async def test_review_1_an_unused_providers_unset_variable_does_not_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The review's reproduction: start-up discovery skips the unbuildable providers with one
    WARNING each, the OpenAI call is answered, and an unbuildable provider fails only when used."""
    from llmorch.testing import ProviderEmulator

    monkeypatch.delenv(UNSET, raising=False)
    monkeypatch.delenv(f"{UNSET}_2", raising=False)
    async with ProviderEmulator() as emu:
        config = _config(_unused_unset_providers(emu))
        config.active_model = emu.chat_models("openai")[0]
        with caplog.at_level(logging.WARNING):
            async with AsyncLLMOrchestrator(config) as orch:
                response = await orch.send_request([{"role": "user", "content": "hi"}])
                assert response.provider == "openai" and response.content
                assert orch.registry.has_fetched("openai")
                assert not orch.registry.has_fetched("anthropic")
                with pytest.raises(ConfigurationError, match=f"anthropic.api_key: .*{UNSET}"):
                    await orch.send_request(
                        [{"role": "user", "content": "hi"}], provider="anthropic", model="m"
                    )
                with pytest.raises(ConfigurationError, match=f"{UNSET}_2 is not set"):
                    await orch.get_available_models("bedrock")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert any("'anthropic'" in w and f"{UNSET} is not set" in w for w in warnings)
    assert any("'bedrock'" in w and f"{UNSET}_2 is not set" in w for w in warnings)


def test_review_1_sync_facade_ask_and_models_start_with_an_unused_provider_unset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sync constructor, `llmorch ask` and `llmorch models openai` work; `llmorch models`
    lists OpenAI and reports the unbuildable providers on a line of their own."""
    import yaml

    from llmorch import LLMOrchestrator
    from llmorch.cli import main
    from llmorch.testing import ProviderEmulator

    monkeypatch.delenv(UNSET, raising=False)
    monkeypatch.delenv(f"{UNSET}_2", raising=False)
    with ProviderEmulator() as emu:
        providers = _unused_unset_providers(emu)
        model = emu.chat_models("openai")[0]
        data = {
            "active_provider": "openai",
            "active_model": model,
            "providers": providers,
            "cost_tracking": {"enabled": False},
        }
        with open("config.yaml", "w", encoding="utf-8") as fh:
            yaml.safe_dump(data, fh)
        assert main(["ask", "-c", "config.yaml", "hello"]) == 0
        assert "hello" in capsys.readouterr().out
        assert main(["models", "-c", "config.yaml", "openai"]) == 0
        assert model in capsys.readouterr().out
        assert main(["models", "-c", "config.yaml"]) == 0
        out, err = capsys.readouterr()
        with LLMOrchestrator(_config(providers)) as orch:
            assert orch.send_request([{"role": "user", "content": "hi"}], model=model).content
    assert model in out and "anthropic" not in out
    assert f"anthropic: config.yaml: providers.anthropic.api_key: environment variable {UNSET}" in (
        err
    )


@pytest.mark.parametrize("cloud_secrets", ["unset", "set"])
def test_review_1_an_openai_call_imports_neither_botocore_nor_google_auth(
    cloud_secrets: str,
) -> None:
    """`import llmorch` and an OpenAI call, with Bedrock and Vertex configured but unused (their
    secrets unset, so start-up skips them; or set, with discovery off), load neither SDK."""
    import json
    import os
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    import llmorch

    code = textwrap.dedent(
        """
        import asyncio, json, logging, os, sys
        logging.disable(logging.WARNING)
        from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
        from llmorch.testing import ProviderEmulator

        async def main():
            secret = "${SECRET}"
            async with ProviderEmulator() as emu:
                config = OrchestratorConfig.from_dict({
                    "active_provider": "openai",
                    "active_model": emu.chat_models("openai")[0],
                    "providers": {
                        "openai": emu.config_for("openai"),
                        "bedrock": {
                            "aws_access_key_id": "AKID",
                            "aws_secret_access_key": secret,
                            "region_name": "us-east-1",
                            "endpoint_url": emu.base_url + "/bedrock/runtime",
                        },
                        "vertex": {"project_id": "p", "credentials_path": secret},
                    },
                    "cost_tracking": {"enabled": False},
                    "model_discovery": {
                        "refresh_on_start": "SECRET" not in os.environ, "cache_path": None,
                    },
                })
                async with AsyncLLMOrchestrator(config) as orch:
                    answer = (await orch.send_request([{"role": "user", "content": "hi"}])).content
            loaded = sorted(m for m in sys.modules if m.split(".")[0] == "botocore"
                            or m.startswith("google.auth"))
            print(json.dumps({"answer": answer, "loaded": loaded}))

        asyncio.run(main())
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "SECRET"}
    if cloud_secrets == "set":
        env["SECRET"] = "/nonexistent/but/set"
    env["PYTHONPATH"] = str(Path(llmorch.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["answer"] and result["loaded"] == []
