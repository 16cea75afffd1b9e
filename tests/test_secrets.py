from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

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
        providers["bedrock"]["aws_session_token"] = "IQoJb3JpZ2luX2VjEXAMPLEscanTOKEN"
        # signs with a wrong secret: the emulator echoes its canonical request, token included
        providers["bedrock_badsig"] = providers["bedrock"] | {
            "aws_secret_access_key": "wrong-secret-for-the-scan",
            "aws_session_token": "IQoJb3JpZ2luX2VjEXAMPLEechoTOKEN",
        }
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
                try:
                    await orch.send_request(messages, provider="bedrock_badsig")
                except OrchestratorError as exc:
                    seen += [str(exc), repr(exc), json.dumps(getattr(exc, "body", ""))]
        secrets = set()
        for request in emu.requests:
            for header in ("authorization", "x-api-key", "x-goog-api-key", "x-amz-security-token"):
                value = request.headers.get(header, "")
                if value:
                    secrets.add(value.split("Signature=")[-1] if "Signature=" in value else value)
            if isinstance(request.body, dict) and "assertion" in str(request.body):
                secrets.add(str(request.body))
        for provider in providers.values():
            for key in ("api_key", "aws_secret_access_key", "aws_session_token"):
                if provider.get(key):
                    secrets.add(provider[key])
            if provider.get("credentials_path"):
                private_key = json.loads(Path(provider["credentials_path"]).read_text())
                secrets.add(private_key["private_key"].splitlines()[1])
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith("botocore")]
    # The scan covers the per-attempt DEBUG lines (SPEC §2.12) of every provider.
    attempted = {m.split("/")[0].split()[-1] for m in logged if m.startswith("attempt ")}
    assert attempted >= {"openai", "anthropic", "gemini", "vertex", "bedrock", "bedrock_badsig"}
    seen += logged
    seen += [Path("models.json").read_text(), Path("ledger.jsonl").read_text()]
    blob = "\n".join(seen)
    assert {"IQoJb3JpZ2luX2VjEXAMPLEscanTOKEN", "IQoJb3JpZ2luX2VjEXAMPLEechoTOKEN"} <= secrets
    assert "InvalidSignatureException" in blob
    assert len(secrets) >= 8
    assert all(name in blob for name in ("openai", "anthropic", "gemini", "vertex", "bedrock"))
    leaked = [s[:12] + "…" for s in secrets if s and s in blob]
    assert [] == leaked


# -- review 6 / issue 11 item 7: secrets that vendors echo back ---------------------------------

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENsecretVALUE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def bedrock_config(**extra: Any) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": "bedrock",
            "active_model": "amazon.nova-lite-v1:0",
            "providers": {
                "bedrock": {
                    "region_name": "us-east-1",
                    "aws_access_key_id": "ASIAEXAMPLE",
                    "aws_secret_access_key": AWS_SECRET,
                    "aws_session_token": SESSION_TOKEN,
                }
            },
            "cost_tracking": {"enabled": False},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "http_transport": "httpx",
        }
        | extra
    )


def aws_echo(request: httpx.Request) -> httpx.Response:
    """AWS's InvalidSignatureException: it prints the canonical request it expected."""
    h = request.headers
    signed = "content-type;host;x-amz-date;x-amz-security-token"
    canonical = (
        f"{request.method}\n{request.url.raw_path.decode()}\n\n"
        f"content-type:{h.get('content-type', '')}\nhost:{h['host']}\n"
        f"x-amz-date:{h['x-amz-date']}\nx-amz-security-token:{h['x-amz-security-token']}\n\n"
        f"{signed}\n<sha256>"
    )
    message = (
        "The request signature we calculated does not match the signature you provided. Check "
        "your AWS Secret Access Key and signing method. Consult the service documentation for "
        f"details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
        "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261201T000000Z\n"
        f"20261201/us-east-1/bedrock/aws4_request\n<sha>'\n{h['authorization']}"
    )
    return httpx.Response(
        403,
        headers={"x-amzn-ErrorType": "InvalidSignatureException:http://internal.amazon.com/"},
        json={"message": message},
    )


async def test_review_6_sigv4_session_token_not_in_the_exception() -> None:
    """review.md 6, first script: AWS's echo of the signed session token never reaches the
    exception's message, repr or body."""
    from llmorch import AuthenticationError

    with respx.mock() as mock:
        mock.post(url__regex=r"https://bedrock-runtime\.us-east-1\.amazonaws\.com/.*").mock(
            side_effect=aws_echo
        )
        async with AsyncLLMOrchestrator(bedrock_config()) as orch:
            with pytest.raises(AuthenticationError) as info:
                await orch.send_request([{"role": "user", "content": "hi"}])
    exc = info.value
    outputs = [str(exc), repr(exc), json.dumps(exc.body)]
    assert "request signature we calculated does not match" in str(exc)
    for secret in (SESSION_TOKEN, AWS_SECRET, "Signature=", "x-amz-security-token:I"):
        assert all(secret not in text for text in outputs), secret


async def test_review_6_startup_discovery_warning_has_no_session_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """review.md 6, second script: the start-up discovery WARNING about the same 403 carries
    no session token."""
    config = bedrock_config(model_discovery={"refresh_on_start": True, "cache_path": None})
    with caplog.at_level(logging.DEBUG, logger="llmorch"), respx.mock() as mock:
        mock.get(url__regex=r"https://bedrock\.us-east-1\.amazonaws\.com/.*").mock(
            side_effect=aws_echo
        )
        async with AsyncLLMOrchestrator(config):
            pass
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("llmorch"))
    assert "InvalidSignatureException" in logged
    assert SESSION_TOKEN not in logged
    assert AWS_SECRET not in logged


SECOND_MODEL = "amazon.nova-lite-v1:0"


async def raw_bedrock_post(provider: dict[str, Any], model: str) -> httpx.Response:
    """One Converse request signed by botocore with ``provider``'s keys, sent with httpx."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    from llmorch.providers._aws import encode_label

    url = f"{provider['endpoint_url']}/model/{encode_label(model)}/converse"
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    request = AWSRequest(method="POST", url=url, data=body, headers={"content-type": "a/b"})
    keys = ReadOnlyCredentials(
        provider["aws_access_key_id"],
        provider["aws_secret_access_key"],
        provider["aws_session_token"],
    )
    SigV4Auth(keys, "bedrock", provider["region_name"]).add_auth(request)
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers=dict(request.headers.items()))


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_review_6_emulator_echo_over_sockets_is_scrubbed(
    caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """Over real sockets: the emulator answers a bad signature as AWS does (the canonical request
    with the session token); neither the error nor any llmorch log line repeats it."""
    from llmorch import AuthenticationError
    from llmorch.testing import ProviderEmulator

    with ProviderEmulator() as emu:
        provider = emu.config_for("bedrock") | {
            "aws_secret_access_key": "not-the-emulator-secret",
            "aws_session_token": SESSION_TOKEN,
        }
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "bedrock",
                "active_model": emu.chat_models("bedrock")[0],
                "providers": {"bedrock": provider},
                "cost_tracking": {"enabled": False},
                "model_discovery": {"refresh_on_start": True, "cache_path": None},
                "http_transport": transport,
            }
        )
        with caplog.at_level(logging.DEBUG, logger="llmorch"):
            async with AsyncLLMOrchestrator(config) as orch:
                with pytest.raises(AuthenticationError) as info:
                    await orch.send_request([{"role": "user", "content": "hi"}])
                stream = orch.send_streaming_request([{"role": "user", "content": "hi"}])
                with pytest.raises(AuthenticationError) as streamed:
                    [c async for c in stream]
        echoed = [r for r in emu.requests if r.headers.get("x-amz-security-token")]
        raw = await raw_bedrock_post(provider, SECOND_MODEL)
    assert SESSION_TOKEN in raw.json()["message"]  # the emulator did echo it, as AWS does
    assert len(echoed) >= 3  # discovery, converse, converse-stream all reached the emulator
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("llmorch")]
    outputs = [str(info.value), repr(info.value), json.dumps(info.value.body)]
    outputs += [str(streamed.value), repr(streamed.value), json.dumps(streamed.value.body)]
    assert any("InvalidSignatureException" in line for line in logged)
    for text in [*outputs, *logged]:
        assert SESSION_TOKEN not in text
        assert "not-the-emulator-secret" not in text


async def test_review_6_openai_style_key_echo_is_scrubbed() -> None:
    """HTTPProvider errors are scrubbed too: a key the vendor repeats, a gateway's echo of the
    Authorization header."""
    from llmorch import AuthenticationError

    echo = f"Incorrect API key provided: {OPENAI_KEY}. Header was 'Bearer {OPENAI_KEY}'"
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": "gpt-4o",
            "providers": {"openai": {"api_key": OPENAI_KEY}},
            "cost_tracking": {"enabled": False},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "http_transport": "httpx",
        }
    )
    with respx.mock() as mock:
        mock.post("https://api.openai.com/v1/chat/completions").respond(
            401, json={"error": {"message": echo, "nested": [{"auth": f"Bearer {OPENAI_KEY}"}]}}
        )
        async with AsyncLLMOrchestrator(config) as orch:
            with pytest.raises(AuthenticationError) as info:
                await orch.send_request([{"role": "user", "content": "hi"}])
    outputs = [str(info.value), repr(info.value), json.dumps(info.value.body)]
    assert "Incorrect API key provided" in outputs[0]
    assert all(OPENAI_KEY not in text for text in outputs)


def test_scrub_removes_secrets_and_echo_patterns_from_text_and_json() -> None:
    """Configured secrets, AWS echo tails, signed-header lines, bearer tokens and key shapes."""
    from llmorch._scrub import MASK, scrub

    text = (
        "Denied. Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/bedrock/"
        "aws4_request, SignedHeaders=host, Signature=abc123 x-amz-security-token:TOKEN1 "
        "key sk-proj-abcdefghij google AIzaSyA1234567890123456789012 "
        "Bearer eyJhbGciOiJIUzI1NiJ9.x-y "
        "my-own-secret-value\n\nThe Canonical String for this request should have been\n'GET\n/'"
    )
    cleaned = scrub(
        {"message": text, "list": [text], "tuple": (text,), "n": 3}, ["my-own-secret-value"]
    )
    for value in (cleaned["message"], cleaned["list"][0], cleaned["tuple"][0]):
        assert value.startswith("Denied. Authorization: AWS4-HMAC-SHA256 Credential=" + MASK)
        for gone in (
            "AKID",
            "abc123",
            "TOKEN1",
            "sk-proj",
            "AIzaSy",
            "eyJhbGciOi",
            "my-own-secret-value",
            "Canonical String",
        ):
            assert gone not in value
    assert 3 == cleaned["n"]
    assert "Invalid bearer token." == scrub("Invalid bearer token.")
    assert "abc" == scrub("abc", ["abc"])  # too short to search for without masking words
    assert "The String-to-Sign" not in scrub("x\nThe String-to-Sign should have been\n'A'")
