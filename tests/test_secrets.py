from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, ConfigManager, OrchestratorConfig, OrchestratorError

OPENAI_KEY = "sk-live-SECRET-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-SECRET-anthropic-9876543210"


async def test_keys_never_reach_logs_errors_reprs_ledger_or_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole flow at DEBUG: no key in logs, errors, reprs, responses, ledger or model cache."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"""
active_provider: openai
active_model: gpt-4o
providers:
  openai:
    api_key: ${{OPENAI_API_KEY}}
    fallback_models: [gpt-4o-mini]
    headers: {{x-custom-token: {ANTHROPIC_KEY}}}
  anthropic:
    api_key: {ANTHROPIC_KEY}
cost_tracking: {{log_path: {tmp_path / "ledger.jsonl"}}}
model_discovery: {{cache_path: {tmp_path / "models.json"}}}
http_transport: httpx
"""
    )
    seen: list[str] = []

    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr(AsyncLLMOrchestrator, "_sleep", staticmethod(no_wait))
    with caplog.at_level(logging.DEBUG), respx.mock() as mock:
        mock.get("https://api.openai.com/v1/models").respond(200, json={"data": [{"id": "gpt-4o"}]})
        mock.get("https://api.anthropic.com/v1/models").respond(
            401, json={"type": "error", "error": {"type": "authentication_error"}}
        )
        mock.post("https://api.openai.com/v1/chat/completions").mock(
            side_effect=[
                httpx.Response(500, json={"error": {"message": "boom"}}),
                httpx.ConnectError("refused"),
                httpx.Response(404, json={"error": {"message": "no model"}}),
            ]
            + [httpx.Response(401, json={"error": {"message": "Incorrect API key"}})] * 2
            + [httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})]
        )
        config = ConfigManager.load_config(config_path)
        seen += [repr(config), str(config), json.dumps(config.masked())]
        async with AsyncLLMOrchestrator(config) as orch:
            seen.append(repr(orch))
            for _ in range(3):
                try:
                    response = await orch.send_request(
                        [{"role": "user", "content": "hi"}], model="gpt-4o", max_tokens=1
                    )
                    seen += [repr(response), json.dumps(response.raw_response)]
                except OrchestratorError as exc:  # noqa: PERF203
                    seen += [str(exc), repr(exc)]
                    for _, attempt in getattr(exc, "attempts", []):
                        seen += [str(attempt), repr(attempt), str(attempt.body)]
    seen += [r.getMessage() for r in caplog.records]
    seen.append((tmp_path / "models.json").read_text())
    seen.append((tmp_path / "ledger.jsonl").read_text())
    blob = "\n".join(seen)
    assert "gpt-4o" in blob  # the capture did see the flow
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "SECRET"):
        assert secret not in blob


async def test_all_five_providers_leak_no_credential(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    """Against the emulator, no key, secret, bearer token or signature reaches llmorch's outputs."""
    from llmorch.testing import Fault, ProviderEmulator

    seen: list[str] = []
    with ProviderEmulator() as emu:
        providers = {d: emu.config_for(d) for d in emu.dialects}
        config = {
            "active_provider": "openai",
            "active_model": emu.chat_models("openai")[0],
            "providers": providers,
            "model_discovery": {"refresh_on_start": True, "cache_path": "models.json"},
            "cost_tracking": {"log_path": "ledger.jsonl"},
        }
        messages = [{"role": "user", "content": "hello"}]
        with caplog.at_level(logging.DEBUG):
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
                seen.append(repr(orch))
                for name in emu.dialects:
                    first = emu.chat_models(name)[0]
                    emu.script(name, first, Fault.http(500), Fault.http(401))
                    try:
                        await orch.send_request(messages, provider=name, model=first)
                    except OrchestratorError as exc:
                        seen += [str(exc), repr(exc), str(getattr(exc, "body", ""))]
                    response = await orch.send_request(messages, provider=name)
                    seen += [repr(response), json.dumps(response.raw_response)]
                    stream = orch.send_streaming_request(messages, provider=name)
                    seen.append("".join([c async for c in stream]))
                    seen.append(repr(stream.response))
        secrets = set()
        for request in emu.requests:
            for header in ("authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token"):
                value = request.headers.get(header, "")
                if value:
                    secrets.add(value.split("Signature=")[-1] if "Signature=" in value else value)
            if isinstance(request.body, dict) and "assertion" in str(request.body):
                secrets.add(str(request.body))
        for provider in providers.values():
            for key in ("api_key", "aws_secret_access_key"):
                if provider.get(key):
                    secrets.add(provider[key])
            if provider.get("credentials_path"):
                private_key = json.loads(Path(provider["credentials_path"]).read_text())
                secrets.add(private_key["private_key"].splitlines()[1])
    seen += [r.getMessage() for r in caplog.records if not r.name.startswith("botocore")]
    seen += [Path("models.json").read_text(), Path("ledger.jsonl").read_text()]
    blob = "\n".join(seen)
    assert len(secrets) >= 6
    assert all(name in blob for name in ("openai", "anthropic", "gemini", "vertex", "bedrock"))
    leaked = [s[:12] + "…" for s in secrets if s and s in blob]
    assert [] == leaked
