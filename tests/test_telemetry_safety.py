"""Observability that never hurts: no secret in any signal, no import without the package, trio.

- A secret scan over every span attribute, event, status, metric attribute and ``llmorch`` log
  record at DEBUG, across the five providers, content capture on.
- With ``opentelemetry`` blocked, ``import llmorch`` and a call succeed and never try the import.
- Under trio, context propagation keeps the attempts under their call.
- The pieces: ``server.address`` never carries userinfo, the log filter without a span.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import llmorch
from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, OrchestratorError
from llmorch.config import OpenAIConfig
from llmorch.telemetry import TraceContextFilter, _server
from llmorch.testing import Fault, ProviderEmulator
from tests.otel import Otel, in_memory

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEotelTOKEN"
ECHO_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEotelECHO"
USERINFO_PASSWORD = "pw-SECRET-in-base-url"


@pytest.fixture
def otel() -> Iterator[Otel]:
    with in_memory() as sdk:
        yield sdk


def _signals(otel: Otel) -> list[str]:
    """Everything the SDK received, as text: spans (all fields) and metric attributes."""
    seen: list[str] = []
    for span in otel.spans():
        seen += [span.name, json.dumps(dict(span.attributes or {}), default=str)]
        seen.append(str(span.status.description))
        for event in span.events:
            seen += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
        seen += [json.dumps(dict(link.attributes or {}), default=str) for link in span.links]
    data = otel.reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                seen.append(metric.name)
                seen += [json.dumps(dict(p.attributes)) for p in metric.data.data_points]
    return seen


async def test_no_secret_reaches_a_span_a_metric_or_a_debug_log(
    otel: Otel, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """Keys, AWS secrets, session tokens, Vertex tokens and base_url userinfo: none, anywhere."""
    with ProviderEmulator() as emu:
        providers = {d: emu.config_for(d) for d in emu.dialects}
        providers["bedrock"]["aws_session_token"] = SESSION_TOKEN
        # signs with a wrong secret: the emulator echoes its canonical request, token included
        providers["bedrock_badsig"] = providers["bedrock"] | {
            "aws_secret_access_key": "wrong-secret-for-the-otel-scan",
            "aws_session_token": ECHO_TOKEN,
        }
        providers["userinfo"] = providers["openai"] | {
            "base_url": emu.url("openai").replace("http://", f"http://me:{USERINFO_PASSWORD}@")
        }
        config = {
            "active_provider": "openai",
            "active_model": emu.chat_models("openai")[0],
            "providers": providers,
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
            "observability": {"capture_content": True},
        }
        messages = [{"role": "user", "content": "hello there"}]
        with caplog.at_level(logging.DEBUG, logger="llmorch"):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                for name in emu.dialects:
                    first = emu.chat_models(name)[0]
                    emu.script(name, first, Fault.http(500), Fault.http(401))
                    try:  # (Vertex refreshes its token after a 401, and then answers)
                        await orch.send_request(messages, provider=name, model=first)
                    except OrchestratorError:
                        pass
                    await orch.send_request(messages, provider=name)
                    assert [c async for c in orch.send_streaming_request(messages, provider=name)]
                for name in ("bedrock_badsig", "userinfo"):
                    try:
                        await orch.send_request(messages, provider=name)
                    except OrchestratorError:  # noqa: PERF203 - each provider's own outcome
                        pass
        secrets = {SESSION_TOKEN, ECHO_TOKEN, USERINFO_PASSWORD, "wrong-secret-for-the-otel-scan"}
        for request in emu.requests:
            for header in ("authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token"):
                value = request.headers.get(header, "")
                if value:
                    secrets.add(value.split("Signature=")[-1] if "Signature=" in value else value)
                    secrets.add(value.removeprefix("Bearer "))
        for provider in providers.values():
            for key in ("api_key", "aws_secret_access_key", "aws_session_token"):
                if provider.get(key):
                    secrets.add(provider[key])
            if provider.get("credentials_path"):
                private_key = json.loads(Path(provider["credentials_path"]).read_text())
                secrets.add(private_key["private_key"].splitlines()[1])
    records = [r for r in caplog.records if r.name.startswith("llmorch")]
    assert {r.trace_id for r in records if r.getMessage().startswith("attempt ")} - {""}
    seen = _signals(otel) + [r.getMessage() for r in records]
    blob = "\n".join(seen)
    for expected in ("gcp.vertex_ai", "aws.bedrock", "hello there", "userinfo"):
        assert expected in blob  # the capture saw every provider and the contents
    assert "InvalidSignatureException" in blob  # the echo was seen (and scrubbed)
    assert any(v.startswith("Bearer ya29") for v in secrets)  # a Vertex OAuth token
    assert len(secrets) >= 10
    leaked = sorted(secret for secret in secrets if secret in blob)
    assert not leaked


_BLOCKED = """
import builtins, importlib, json, logging, sys

sys.modules["opentelemetry"] = None  # as if the package were not installed
tried = []
real_import, real_import_module = builtins.__import__, importlib.import_module

def spy(name, *args, **kwargs):
    if name.startswith("opentelemetry"):
        tried.append(name)
    return real_import(name, *args, **kwargs)

def spy_module(name, package=None):
    if name.startswith("opentelemetry"):
        tried.append(name)
    return real_import_module(name, package)

builtins.__import__, importlib.import_module = spy, spy_module

import anyio
import llmorch
from llmorch import AsyncLLMOrchestrator, ConfigurationError, OrchestratorConfig
from llmorch.testing import ProviderEmulator

async def main():
    async with ProviderEmulator() as emu:
        config = {
            "active_provider": "openai",
            "active_model": emu.chat_models("openai")[0],
            "providers": {"openai": emu.config_for("openai")},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }
        async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
            response = await orch.send_request([{"role": "user", "content": "hi"}])
            stream = orch.send_streaming_request([{"role": "user", "content": "hi"}])
            chunks = [c async for c in stream]
        before = list(tried)
        try:
            AsyncLLMOrchestrator(
                OrchestratorConfig.from_dict({**config, "observability": {"enabled": True}})
            )
            error = None
        except ConfigurationError as exc:
            error = str(exc)
    return {
        "content": response.content,
        "chunks": len(chunks),
        "tried": before,
        "filters": len(logging.getLogger("llmorch").filters),
        "error": error,
    }

print(json.dumps(anyio.run(main)))
"""


def test_without_opentelemetry_a_call_works_and_never_tries_the_import(tmp_path: Path) -> None:
    """Blocked import: a request and a stream succeed, no import is tried, logs are untouched;
    only an explicit ``enabled: true`` asks for the package, naming the extra."""
    src = str(Path(llmorch.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_BLOCKED)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": src, "PATH": "", "AWS_EC2_METADATA_DISABLED": "true"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["content"]
    assert result["chunks"] > 0
    assert result["tried"] == []
    assert result["filters"] == 0
    assert "pip install 'llmorch[otel]'" in result["error"]


def test_trio_keeps_each_attempt_under_its_call(otel: Otel) -> None:
    """contextvars work under trio: a retried request and a stream, each attempt parented."""
    with ProviderEmulator() as emu:
        model = emu.chat_models("anthropic")[0]
        emu.script("anthropic", model, Fault.http(500))
        config = {
            "active_provider": "anthropic",
            "active_model": model,
            "providers": {"anthropic": emu.config_for("anthropic") | {"max_backoff_s": 0.01}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }

        async def main() -> tuple[Any, Any]:
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                response = await orch.send_request([{"role": "user", "content": "hi"}])
                stream = orch.send_streaming_request([{"role": "user", "content": "hi"}])
                assert [c async for c in stream]
                return response, stream.response

        response, streamed = anyio.run(main, backend="trio")
    request_call, stream_call = otel.calls()
    assert len(otel.children(request_call)) == 2
    assert len(otel.children(stream_call)) == 1
    assert (
        dict(request_call.attributes or {})["gen_ai.usage.output_tokens"]
        == (response.tokens_used["completion"])
    )
    assert dict(stream_call.attributes or {})["llmorch.cost_usd"] == streamed.cost


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, ("api.openai.com", 443)),
        ({"base_url": "https://me:secret@proxy.example:8443/v1"}, ("proxy.example", 8443)),
        ({"base_url": "http://localhost/v1"}, ("localhost", 80)),
    ],
)
def test_server_address_is_the_host_alone(
    settings: dict[str, Any], expected: tuple[str, int]
) -> None:
    """``server.address`` / ``server.port`` from the URL, never its userinfo."""
    assert expected == _server(OpenAIConfig(**settings))


def test_server_address_of_vertex_and_bedrock_defaults() -> None:
    """The vendors' own hosts, from the location or the region."""
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "v",
            "active_model": "m",
            "providers": {
                "v": {"type": "vertex", "project_id": "p", "location": "europe-west4"},
                "g": {"type": "vertex", "project_id": "p", "location": "global"},
                "b": {"type": "bedrock", "region_name": "eu-west-1"},
            },
        }
    )
    assert _server(config.providers["v"]) == ("europe-west4-aiplatform.googleapis.com", 443)
    assert _server(config.providers["g"]) == ("aiplatform.googleapis.com", 443)
    assert _server(config.providers["b"]) == ("bedrock-runtime.eu-west-1.amazonaws.com", 443)


def test_the_log_filter_without_a_span_gives_empty_ids() -> None:
    """A handler can take the filter: ``%(trace_id)s`` always formats."""
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello", None, None)
    assert TraceContextFilter().filter(record)
    assert (record.trace_id, record.span_id) == ("", "")
    formatter = logging.Formatter("%(message)s trace=%(trace_id)s span=%(span_id)s")
    assert formatter.format(record) == "hello trace= span="


def test_provider_name_is_by_type() -> None:
    """An OpenAI-compatible server is ``openai``; a provider class of your own, its name."""
    from llmorch.telemetry import _provider

    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "ollama",
            "active_model": "m",
            "providers": {
                "ollama": {"type": "openai", "base_url": "http://localhost:11434/v1"},
                "mine": {"type": "tests.custom_provider:EchoProvider"},
            },
        }
    )
    ollama = _provider("ollama", config.providers["ollama"]).attributes
    assert ollama["gen_ai.provider.name"] == "openai"
    assert (ollama["server.address"], ollama["server.port"]) == ("localhost", 11434)
    assert _provider("mine", config.providers["mine"]).attributes["gen_ai.provider.name"] == "mine"


def test_import_and_an_orchestrator_load_no_opentelemetry_module() -> None:
    """Installed but unused: ``import llmorch`` and building an orchestrator import none of it."""
    code = textwrap.dedent(
        """
        import json, sys
        from llmorch import AsyncLLMOrchestrator
        AsyncLLMOrchestrator({
            "active_provider": "openai", "active_model": "m",
            "providers": {"openai": {"api_key": "k"}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
        })
        print(json.dumps(sorted(m for m in sys.modules if m.startswith("opentelemetry"))))
        """
    )
    src = str(Path(llmorch.__file__).parent.parent)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "PATH": ""},
        timeout=60,
    )
    assert json.loads(out.stdout) == []
