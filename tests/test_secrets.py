from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import respx

from llmorch import AsyncLLMOrchestrator, ConfigManager, OrchestratorError

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
