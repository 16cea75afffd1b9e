"""The emulator refuses what the vendors refuse, with each vendor's own 400 body (SPEC §3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    InvalidRequestError,
    OrchestratorConfig,
)
from llmorch.providers import _google
from llmorch.testing import ProviderEmulator

MESSAGES = [{"role": "user", "content": "one two three"}]
CLAUDE = "claude-haiku-5-5"
GOOGLE_TURN = [{"role": "user", "parts": [{"text": "one two three"}]}]


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="module")
def vertex_token(emu: ProviderEmulator) -> str:
    async def fetch() -> str:
        source = _google.TokenSource("vertex", emu.config_for("vertex")["credentials_path"])
        try:
            return (await source.get()).token
        finally:
            source.close()

    import anyio

    return anyio.run(fetch)


def openai(emu: ProviderEmulator, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        emu.url("openai") + "/chat/completions",
        json=body,
        headers={"authorization": "Bearer sk-test"},
    )


def anthropic(
    emu: ProviderEmulator, body: dict[str, Any], version: str = "2023-06-01"
) -> httpx.Response:
    headers = {"x-api-key": "k", "anthropic-version": version}
    return httpx.post(emu.url("anthropic") + "/v1/messages", json=body, headers=headers)


def gemini(emu: ProviderEmulator, body: dict[str, Any], stream: bool = False) -> httpx.Response:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    url = emu.url("gemini") + f"/v1beta/models/gemini-3.8-flash:{method}"
    return httpx.post(url, json=body, headers={"x-goog-api-key": "k"})


def vertex(
    emu: ProviderEmulator, token: str, body: dict[str, Any], publisher: str = "google"
) -> httpx.Response:
    base = emu.url("vertex") + "/v1/projects/llmorch-emulator/locations/us-central1/publishers"
    url = (
        f"{base}/anthropic/models/{CLAUDE}:rawPredict"
        if publisher == "anthropic"
        else f"{base}/google/models/gemini-3.8-flash:generateContent"
    )
    return httpx.post(url, json=body, headers={"authorization": f"Bearer {token}"})


def openai_error(message: str, param: str | None = None, code: str | None = None) -> Any:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


CHAT = {"model": "gpt-5.4-mini", "messages": MESSAGES}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {**CHAT, "foo": 1},
            openai_error("Unrecognized request argument supplied: foo"),
        ),
        (
            {**CHAT, "messages": [{"role": "user", "content": "hi", "foo": 1}]},
            openai_error(
                "Unknown parameter: 'messages[0].foo'.", "messages[0].foo", "unknown_parameter"
            ),
        ),
        (
            {
                **CHAT,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "a", "x": 1}]}],
            },
            openai_error(
                "Unknown parameter: 'messages[0].content[0].x'.",
                "messages[0].content[0].x",
                "unknown_parameter",
            ),
        ),
        (
            {**CHAT, "stream": True, "stream_options": {"include_usage": True, "x": 1}},
            openai_error(
                "Unknown parameter: 'stream_options.x'.", "stream_options.x", "unknown_parameter"
            ),
        ),
        (
            {**CHAT, "temperature": "hot"},
            openai_error(
                "Invalid type for 'temperature': expected a decimal, but got a string instead.",
                "temperature",
                "invalid_type",
            ),
        ),
        (
            {**CHAT, "messages": [{"role": "user", "content": 7}]},
            openai_error(
                "Invalid type for 'messages[0].content': expected a string, but got an integer "
                "instead.",
                "messages[0].content",
                "invalid_type",
            ),
        ),
        (
            {**CHAT, "temperature": 2.5},
            openai_error("2.5 is greater than the maximum of 2 - 'temperature'"),
        ),
        (
            {**CHAT, "temperature": -0.1},
            openai_error("-0.1 is less than the minimum of 0 - 'temperature'"),
        ),
        ({**CHAT, "top_p": 1.5}, openai_error("1.5 is greater than the maximum of 1 - 'top_p'")),
        ({**CHAT, "max_tokens": 0}, openai_error("0 is less than the minimum of 1 - 'max_tokens'")),
        (
            {**CHAT, "max_completion_tokens": 0},
            openai_error("0 is less than the minimum of 1 - 'max_completion_tokens'"),
        ),
        ({"messages": MESSAGES}, openai_error("you must provide a model parameter")),
        (
            {"model": "gpt-5.4-mini"},
            openai_error(
                "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
            ),
        ),
        ({**CHAT, "messages": []}, openai_error("[] is too short - 'messages'")),
        (
            {**CHAT, "messages": [{"role": "robot", "content": "hi"}]},
            openai_error(
                "Invalid value: 'robot'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                "messages[0].role",
                "invalid_value",
            ),
        ),
        (
            {**CHAT, "messages": [{"role": "tool", "content": "42"}]},
            openai_error(
                "Missing required parameter: 'messages[0].tool_call_id'.",
                "messages[0].tool_call_id",
                "missing_required_parameter",
            ),
        ),
    ],
)
def test_openai_refuses_like_openai(emu: ProviderEmulator, body: Any, error: Any) -> None:
    """Undeclared fields, wrong types, ranges, missing fields and roles get OpenAI's 400."""
    response = openai(emu, body)
    assert (400, error) == (response.status_code, response.json())
    assert response.headers["x-request-id"].startswith("req_")


def test_openai_accepts_every_declared_field(emu: ProviderEmulator) -> None:
    """Fields the API declares pass even where the emulator does not act on them."""
    body = {
        **CHAT,
        "messages": [
            {"role": "developer", "content": "be brief, answer in JSON"},  # json_object needs it
            {"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ],
        "n": 1,
        "seed": 7,
        "stop": ["END"],
        "user": "u",
        "store": False,
        "metadata": {"k": "v"},
        "logprobs": True,
        "top_logprobs": 2,
        "temperature": 2,
        "top_p": 0,
        "max_tokens": None,
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning_effort": "none",  # gpt-5.x without reasoning takes any temperature
        "frequency_penalty": -2,
        "presence_penalty": 2,
        "service_tier": "auto",
    }
    assert 200 == openai(emu, body).status_code


ANTHROPIC = {"model": "claude-haiku-5-5", "max_tokens": 20, "messages": MESSAGES}


def anthropic_error(message: str) -> Any:
    return {"type": "invalid_request_error", "message": message}


@pytest.mark.parametrize(
    ("body", "version", "message"),
    [
        ({**ANTHROPIC, "foo": 1}, "2023-06-01", "foo: Extra inputs are not permitted"),
        (
            {**ANTHROPIC, "messages": [{"role": "user", "content": "x", "name": "ann"}]},
            "2023-06-01",
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            {
                **ANTHROPIC,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "q": 1}]}],
            },
            "2023-06-01",
            "messages.0.content.0.text.q: Extra inputs are not permitted",
        ),
        (
            {**ANTHROPIC, "system": [{"type": "text", "text": "s", "q": 1}]},
            "2023-06-01",
            "system.0.q: Extra inputs are not permitted",
        ),
        (
            {**ANTHROPIC, "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "2023-06-01",
            (
                "messages.0.content.0: Input tag 'video' found using 'type' does not match "
                "any of the expected tags: "
            ),
        ),
        (
            {"model": "claude-haiku-5-5", "messages": MESSAGES},
            "2023-06-01",
            "max_tokens: Field required",
        ),
        ({"model": "claude-haiku-5-5", "max_tokens": 5}, "2023-06-01", "messages: Field required"),
        ({"max_tokens": 5, "messages": MESSAGES}, "2023-06-01", "model: Field required"),
        (
            {**ANTHROPIC, "max_tokens": "5"},
            "2023-06-01",
            "max_tokens: Input should be a valid integer",
        ),
        (
            {**ANTHROPIC, "max_tokens": 0},
            "2023-06-01",
            "max_tokens: Input should be greater than or equal to 1",
        ),
        ({**ANTHROPIC, "temperature": 1.5}, "2023-06-01", "temperature: range: 0..1"),
        ({**ANTHROPIC, "top_p": -1}, "2023-06-01", "top_p: range: 0..1"),
        ({**ANTHROPIC, "messages": []}, "2023-06-01", "messages: at least one message is required"),
        (
            {**ANTHROPIC, "messages": [{"role": "ai", "content": "x"}]},
            "2023-06-01",
            'messages: Unexpected role "ai". Allowed roles are "user", "assistant" or "system"',
        ),
        (
            {**ANTHROPIC, "temperature": 0.5},
            "2026-10-21",
            "temperature: Extra inputs are not permitted",
        ),
        ({**ANTHROPIC, "top_k": 5}, "2026-10-21", "top_k: Extra inputs are not permitted"),
    ],
)
def test_anthropic_refuses_like_anthropic(
    emu: ProviderEmulator, body: Any, version: str, message: str
) -> None:
    """Pydantic-style locations and wording, in Anthropic's error envelope, per API version."""
    response = anthropic(emu, body, version)
    payload = response.json()
    assert (400, "error", "invalid_request_error") == (
        response.status_code,
        payload["type"],
        payload["error"]["type"],
    )
    assert payload["error"]["message"].startswith(message)
    assert payload["request_id"] == response.headers["request-id"]


def test_anthropic_accepts_declared_fields_per_version(emu: ProviderEmulator) -> None:
    """2023-06-01 takes the sampling parameters; 2026-10-21 takes its own new fields."""
    common = {
        **ANTHROPIC,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u"},
        "stop_sequences": ["END"],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t", "content": "1"}],
            },
        ],
    }
    sampling = {"temperature": 1, "top_p": 0, "top_k": 5}
    older = {**common, **sampling, "model": "claude-haiku-4-5-20251001"}  # Claude 5 refuses two
    assert 200 == anthropic(emu, older, "2023-06-01").status_code
    assert 200 == anthropic(emu, {**common, "speed": "fast"}, "2026-10-21").status_code
    assert 400 == anthropic(emu, {**common, "speed": "fast"}, "2023-06-01").status_code


def google_violation(message: str, field: str | None = None) -> Any:
    violation = {"field": field, "description": message} if field else {"description": message}
    return [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}]


GEMINI = {"contents": GOOGLE_TURN}


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        (
            {**GEMINI, "foo": 1},
            'Invalid JSON payload received. Unknown name "foo": Cannot find field.',
            google_violation(
                'Invalid JSON payload received. Unknown name "foo": Cannot find field.'
            ),
        ),
        (
            {**GEMINI, "generationConfig": {"maxOutputTokens": 5, "max_completion_tokens": 5}},
            (
                'Invalid JSON payload received. Unknown name "max_completion_tokens" at '
                "'generation_config': Cannot find field."
            ),
            google_violation(
                'Invalid JSON payload received. Unknown name "max_completion_tokens" at '
                "'generation_config': Cannot find field.",
                "generation_config",
            ),
        ),
        (
            {"contents": [{"role": "user", "parts": [{"text": "x", "foo": 1}]}]},
            (
                "Invalid JSON payload received. Unknown name \"foo\" at 'contents[0].parts[0]': "
                "Cannot find field."
            ),
            google_violation(
                "Invalid JSON payload received. Unknown name \"foo\" at 'contents[0].parts[0]': "
                "Cannot find field.",
                "contents[0].parts[0]",
            ),
        ),
        (
            {**GEMINI, "generationConfig": {"temperature": "hot"}},
            "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
            google_violation(
                "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\"",
                "generation_config.temperature",
            ),
        ),
        (
            {**GEMINI, "generationConfig": [{"temperature": 1}]},
            (
                'Invalid JSON payload received. Unknown name "generationConfig": Proto field '
                "is not repeating, cannot start list."
            ),
            google_violation(
                'Invalid JSON payload received. Unknown name "generationConfig": Proto field is '
                "not repeating, cannot start list."
            ),
        ),
        (
            {**GEMINI, "generationConfig": {"temperature": 2.5}},
            (
                "Unable to submit request because it has a temperature value of 2.5 but the "
                "supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value "
                "and try again."
            ),
            None,
        ),
        (
            {**GEMINI, "generationConfig": {"topP": 1.5}},
            (
                "Unable to submit request because it has a topP value of 1.5 but the supported "
                "range is from 0 (inclusive) to 1.0001 (exclusive). Update the value and try "
                "again."
            ),
            None,
        ),
        (
            {**GEMINI, "generation_config": {"max_output_tokens": 0}},
            (
                "Unable to submit request because it has a maxOutputTokens value of 0 but the "
                "supported range is from 1 (inclusive) to 65537 (exclusive). Update the value "
                "and try again."
            ),
            None,
        ),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "Please use a valid role: user, model.",
            None,
        ),
        ({}, "* GenerateContentRequest.contents: contents is not specified", None),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified", None),
    ],
)
def test_gemini_refuses_like_google(
    emu: ProviderEmulator, body: Any, message: str, details: Any
) -> None:
    """google.rpc.Status bodies with Google's parser wording and BadRequest field violations."""
    for stream in (False, True):
        response = gemini(emu, body, stream)
        error = response.json()["error"]
        assert (400, 400, "INVALID_ARGUMENT", message) == (
            response.status_code,
            error["code"],
            error["status"],
            error["message"],
        )
        assert details == error.get("details")


SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's documented stand-in (a made-up
# signature is "Corrupted thought signature.", see test_emulator_google_tools)


def test_gemini_accepts_json_and_proto_names_and_declared_fields(emu: ProviderEmulator) -> None:
    """lowerCamelCase or snake_case names, numbers as strings, fields not emulated: all 200."""
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "yes", "thought_signature": SKIP_SIGNATURE}]},
            {"parts": [{"inline_data": {"mime_type": "image/png", "data": "AA=="}}]},
        ],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generationConfig": {
            "temperature": "0.5",
            "topK": 40,
            "max_output_tokens": 50,
            "stopSequences": ["END"],
            "responseMimeType": "application/json",
            "thinkingConfig": {"thinkingBudget": 0, "include_thoughts": False},
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "labels": {"team": "a"},
    }
    assert 200 == gemini(emu, body).status_code


def test_vertex_refuses_like_vertex(emu: ProviderEmulator, vertex_token: str) -> None:
    """Gemini on Vertex names Vertex's proto types; Claude on Vertex refuses like Anthropic."""
    wrong = vertex(emu, vertex_token, {"contents": [{"role": "user", "parts": "hi"}]})
    assert (
        400,
        (
            "Invalid value at 'contents[0].parts' (type.googleapis.com/google.cloud."
            'aiplatform.v1.Part), "hi"'
        ),
    ) == (wrong.status_code, wrong.json()["error"]["message"])
    store = vertex(emu, vertex_token, {**GEMINI, "store": True})
    assert 'Unknown name "store": Cannot find field.' in store.json()["error"]["message"]
    claude = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": MESSAGES}
    # 2023-10-16 declares the sampling fields (Claude 5 refuses temperature and top_p: top_k).
    assert 200 == vertex(emu, vertex_token, {**claude, "top_k": 5}, "anthropic").status_code
    for extra, message in [
        ({"model": CLAUDE}, "model: Extra inputs are not permitted"),
        ({"foo": 1}, "foo: Extra inputs are not permitted"),
        ({"temperature": 2}, "temperature: range: 0..1"),
        (
            {"anthropic_version": "2026-10-21", "top_p": 0.5},
            "top_p: Extra inputs are not permitted",
        ),
    ]:
        refused = vertex(emu, vertex_token, {**claude, **extra}, "anthropic")
        assert (400, message) == (refused.status_code, refused.json()["error"]["message"])


# -- llmorch against the strict emulator ------------------------------------------------------

WORDING = {
    "openai": "Unrecognized request argument supplied",
    "anthropic": "Extra inputs are not permitted",
    "gemini": "Cannot find field",
    "vertex": "Cannot find field",
}


def orch_for(emu: ProviderEmulator, dialect: str, model: str) -> AsyncLLMOrchestrator:
    config = emu.config_for(dialect) | {"fallback_models": []}
    return AsyncLLMOrchestrator(
        OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": model,
                "providers": {dialect: config},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
    )


@pytest.mark.parametrize(
    ("dialect", "model", "wording"),
    [
        ("openai", "gpt-5.4-mini", WORDING["openai"]),
        ("anthropic", "claude-haiku-5-5", WORDING["anthropic"]),
        ("gemini", "gemini-3.8-flash", WORDING["gemini"]),
        ("vertex", "gemini-3.8-flash", WORDING["vertex"]),
        ("vertex", CLAUDE, WORDING["anthropic"]),
    ],
)
async def test_newcomer_5_an_undeclared_field_gets_the_vendors_400(
    emu: ProviderEmulator, dialect: str, model: str, wording: str
) -> None:
    """A field the vendor does not define, sent through llmorch, is refused as the vendor would.

    Before, the emulator answered 200 to anything, so an app's tests passed against bodies the
    real service refuses.
    """
    sent = len(emu.requests)
    async with orch_for(emu, dialect, model) as orch:
        with pytest.raises(AllFallbacksFailedError) as plain:
            await orch.send_request(MESSAGES, extra_body={"foo": 1})
        with pytest.raises(AllFallbacksFailedError) as streamed:
            async for _ in orch.send_streaming_request(MESSAGES, extra_body={"foo": 1}):
                pass
    for caught in (plain, streamed):
        ((_, error),) = caught.value.attempts
        assert isinstance(error, InvalidRequestError)
        assert (400, True) == (error.status_code, wording in error.message)
    posts = [r for r in emu.requests[sent:] if r.method == "POST" and r.model == model]
    assert 2 == len(posts)


@pytest.mark.parametrize(
    ("dialect", "model"),
    [
        ("openai", "gpt-5.4-mini"),
        ("anthropic", "claude-haiku-5-5"),
        ("gemini", "gemini-3.8-flash"),
        ("vertex", "gemini-3.8-flash"),
        ("vertex", CLAUDE),
    ],
)
async def test_llmorch_bodies_pass_the_strict_emulator(
    emu: ProviderEmulator, dialect: str, model: str
) -> None:
    """Every option llmorch maps itself arrives in a body the vendor accepts."""
    emu.script(dialect, model, "a b c", "d e f")
    options: dict[str, Any] = {"temperature": 0.5, "max_tokens": 50, "top_p": 0.9, "stop": ["Z"]}
    messages = [{"role": "system", "content": "be brief"}, *MESSAGES]
    async with orch_for(emu, dialect, model) as orch:
        assert "a b c" == (await orch.send_request(messages, **options)).content
        assert "d e f" == "".join(
            [c async for c in orch.send_streaming_request(messages, **options)]
        )


def test_validator_edge_cases() -> None:
    """JSON kinds, integral floats, non-finite numbers, numbers as strings, unions and tags."""
    from llmorch.testing._strict import ANY, Arr, Either, Obj, Scalar, Tagged, json_kind, validate

    kinds = [None, True, 1, 1.5, "s", [], {}]
    expected = ["null", "boolean", "integer", "number", "string", "array", "object"]
    assert expected == [json_kind(v) for v in kinds]
    integer, number = Scalar("integer", minimum=1), Scalar("number", maximum=2)
    assert validate(2.0, integer) is None
    assert "type" == getattr(validate(2.5, integer), "kind", None)
    assert "type" == getattr(validate(True, number), "kind", None)
    assert "type" == getattr(validate(float("nan"), number), "kind", None)
    assert "type" == getattr(validate("1", number), "kind", None)
    assert validate("1.5", number, numeric_strings=True) is None
    assert "type" == getattr(validate("x", integer, numeric_strings=True), "kind", None)
    assert "range" == getattr(validate("3", number, numeric_strings=True), "kind", None)
    assert "type" == getattr(validate(1, Scalar("boolean")), "kind", None)
    either = Either((Scalar("string"), Arr(Scalar("string"))))
    assert validate(["a"], either) is None
    problem = validate(3, either)
    assert problem is not None and ("type", "string") == (problem.kind, problem.expected)
    tagged = Tagged("type", {"a": Obj({"type": Scalar("string")})})
    assert "tag" == getattr(validate({"type": ["a"]}, tagged), "kind", None)
    assert "type" == getattr(validate([], tagged), "kind", None)
    assert "type" == getattr(validate({}, Arr(ANY)), "kind", None)
