"""The official google-genai SDK parses everything the emulator's Gemini and Vertex dialects serve.

Gemini API mode takes the emulator's URL as ``http_options.base_url``; Vertex mode takes it too,
with explicit service-account credentials whose token endpoint is the emulator's, so no request
leaves the machine (no ADC lookup, no metadata server).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply
from llmorch.testing._google_schema import GEMINI_REQUEST, VERTEX_REQUEST
from llmorch.testing._strict import Obj
from tests.conformance._bodies import llmorch_bodies

genai = pytest.importorskip("google.genai")
errors = pytest.importorskip("google.genai.errors")
types = pytest.importorskip("google.genai.types")
service_account = pytest.importorskip("google.oauth2.service_account")

os.environ.setdefault("NO_GCE_CHECK", "True")

MODEL = "gemini-3.8-flash"  # the emulator's default model
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(params=["gemini", "vertex"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(emu: ProviderEmulator, dialect: str) -> Any:
    if dialect == "gemini":
        options = types.HttpOptions(base_url=emu.url("gemini"), api_version="v1beta")
        return genai.Client(api_key="k", http_options=options)
    config = emu.config_for("vertex")
    credentials = service_account.Credentials.from_service_account_file(
        config["credentials_path"], scopes=[CLOUD_PLATFORM]
    )
    return genai.Client(
        vertexai=True,
        project=config["project_id"],
        location=config["location"],
        credentials=credentials,
        http_options=types.HttpOptions(base_url=config["base_url"]),
    )


def test_generate_content(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """A unary answer parses into text, finish reason and usage metadata."""
    emu.script(dialect, MODEL, Reply("alpha beta gamma"))
    response = client.models.generate_content(
        model=MODEL,
        contents="one two three",
        config=types.GenerateContentConfig(system_instruction="be brief", temperature=0.1),
    )
    assert "alpha beta gamma" == response.text
    assert types.FinishReason.STOP == response.candidates[0].finish_reason
    usage = response.usage_metadata
    assert (5, 3, 8) == (
        usage.prompt_token_count,
        usage.candidates_token_count,
        usage.total_token_count,
    )
    assert MODEL == response.model_version
    assert response.response_id


def test_max_tokens_and_blocked_prompt(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """MAX_TOKENS and a blocked prompt (promptFeedback.blockReason) read as the SDK expects."""
    emu.script(dialect, MODEL, "a b c d", Reply("", finish_reason="content_filter"))
    config = types.GenerateContentConfig(max_output_tokens=2)
    cut = client.models.generate_content(model=MODEL, contents="x", config=config)
    assert ("a b", types.FinishReason.MAX_TOKENS) == (cut.text, cut.candidates[0].finish_reason)
    blocked = client.models.generate_content(model=MODEL, contents="x")
    assert types.BlockedReason.SAFETY == blocked.prompt_feedback.block_reason
    assert not blocked.candidates


def test_stream(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """The CRLF SSE stream yields one chunk per word and the final usage."""
    emu.script(dialect, MODEL, Reply("delta epsilon zeta"))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="one two"))
    assert ["delta", " epsilon", " zeta"] == [c.text for c in chunks]
    assert types.FinishReason.STOP == chunks[-1].candidates[0].finish_reason
    assert 3 == chunks[-1].usage_metadata.candidates_token_count


def test_stream_error_object_mid_stream(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """The bare JSON error after some chunks is raised by the SDK as an APIError."""
    emu.script(dialect, MODEL, Fault.stream_error(after=1, error="rate_limit"))
    got: list[str] = []
    with pytest.raises(errors.APIError) as info:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="x"):
            got.append(chunk.text)  # noqa: PERF401 - the list must survive the raise
    assert 1 == len(got)
    assert 429 == info.value.code


def test_model_list_over_pages(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """The pager follows nextPageToken through every page."""
    config: dict[str, Any] = {"page_size": 2}
    if dialect == "vertex":
        config["query_base"] = True
    names = [m.name.rsplit("/", 1)[-1] for m in client.models.list(config=config)]
    assert emu.models(dialect) == names
    assert 4 == sum(1 for r in emu.requests if r.method == "GET")


def test_http_errors(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """Status errors arrive as ClientError / ServerError with the google.rpc status."""
    emu.script(dialect, MODEL, Fault.rate_limit(3), Fault.http(503))
    with pytest.raises(errors.ClientError) as client_error:
        client.models.generate_content(model=MODEL, contents="x")
    assert (429, "RESOURCE_EXHAUSTED") == (client_error.value.code, client_error.value.status)
    assert "3s" in str(client_error.value.details)
    with pytest.raises(errors.ServerError) as server_error:
        client.models.generate_content(model=MODEL, contents="x")
    assert (503, "UNAVAILABLE") == (server_error.value.code, server_error.value.status)


def test_invalid_gemini_key() -> None:
    """A wrong key is the vendor's 400 INVALID_ARGUMENT with reason API_KEY_INVALID."""
    with ProviderEmulator(api_keys={"gemini": ["right"]}) as emu:
        options = types.HttpOptions(base_url=emu.url("gemini"), api_version="v1beta")
        client = genai.Client(api_key="wrong", http_options=options)
        with pytest.raises(errors.ClientError) as info:
            client.models.generate_content(model=MODEL, contents="x")
    assert (400, "INVALID_ARGUMENT") == (info.value.code, info.value.status)
    assert "API_KEY_INVALID" in str(info.value.details)


def test_claude_on_vertex_with_the_anthropic_sdk(emu: ProviderEmulator) -> None:
    """anthropic's AnthropicVertex client talks rawPredict / streamRawPredict to the emulator."""
    anthropic = pytest.importorskip("anthropic")
    from google.auth.transport.requests import Request

    config = emu.config_for("vertex")
    credentials = service_account.Credentials.from_service_account_file(
        config["credentials_path"], scopes=[CLOUD_PLATFORM]
    )
    credentials.refresh(Request())
    model = "claude-haiku-5-5"
    emu.script("vertex", model, "hello from claude", "streamed claude")
    with anthropic.AnthropicVertex(
        project_id=config["project_id"],
        region=config["location"],
        access_token=credentials.token,
        base_url=config["base_url"] + "/v1",
        max_retries=0,
    ) as client:
        message = client.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        with client.messages.stream(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
    assert ("hello from claude", "end_turn") == (message.content[0].text, message.stop_reason)
    assert "streamed claude" == text


def test_sdk_extra_body_gets_google_own_400(
    emu: ProviderEmulator, dialect: str, client: Any
) -> None:
    """A field Google does not define, via the SDK's extra_body, is a 400 INVALID_ARGUMENT."""
    options = types.HttpOptions(extra_body={"foo": 1})
    if dialect == "vertex":
        config = emu.config_for("vertex")
        options = types.HttpOptions(base_url=config["base_url"], extra_body={"foo": 1})
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(
            model=MODEL, contents="x", config=types.GenerateContentConfig(http_options=options)
        )
    message = 'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
    assert (400, "INVALID_ARGUMENT", message) == (
        info.value.code,
        info.value.status,
        info.value.message,
    )
    violation = {"description": message}
    assert [{"@type": BAD_REQUEST, "fieldViolations": [violation]}] == info.value.details["error"][
        "details"
    ]


BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def test_sdk_types_accept_every_body_llmorch_sends(emu: ProviderEmulator, dialect: str) -> None:
    """google-genai's own models (extra=forbid) type each part of llmorch's bodies."""
    top = _sdk_top_level()
    for body in llmorch_bodies(emu, dialect, MODEL):
        assert set(body) <= top
        for content in body["contents"]:
            types.Content.model_validate(content)
        if "systemInstruction" in body:
            types.Content.model_validate(body["systemInstruction"])
        if "generationConfig" in body:
            types.GenerationConfig.model_validate(body["generationConfig"])
        for setting in body.get("safetySettings", []):
            types.SafetySetting.model_validate(setting)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _sdk_top_level() -> set[str]:
    """Top-level body keys the SDK can send: its config's fields that are not generation ones."""
    generation = {_camel(f) for f in types.GenerationConfig.model_fields}
    config = {_camel(f) for f in types.GenerateContentConfig.model_fields}
    return {"contents", "generationConfig", "model"} | (config - generation)


def test_emulator_declares_no_field_the_sdk_does_not() -> None:
    """Every field the emulator declares, in either spelling, is one the SDK's types have."""
    top = _sdk_top_level()
    generation = {_camel(f) for f in types.GenerationConfig.model_fields} | {"imageConfig"}
    for schema in (GEMINI_REQUEST, VERTEX_REQUEST):
        assert {_camel(f) for f in schema.fields} <= top
        config = schema.fields["generationConfig"]
        assert isinstance(config, Obj)
        assert {_camel(f) for f in config.fields} <= generation
