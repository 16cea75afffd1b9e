"""The official google-genai SDK parses everything the emulator's Gemini and Vertex dialects serve.

Gemini API mode takes the emulator's URL as ``http_options.base_url``; Vertex mode takes it too,
with explicit service-account credentials whose token endpoint is the emulator's, so no request
leaves the machine (no ADC lookup, no metadata server).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
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


# -- tools and reasoning ---------------------------------------------------------------------------

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
CLOCK = {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}


def _tool_config(level: str | None = "LOW") -> Any:
    """Two tools as JSON Schemas, SDK auto-calling off, thoughts shown (Gemini 3 levels)."""
    return types.GenerateContentConfig(
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather", description="weather", parameters_json_schema=WEATHER
                    ),
                    types.FunctionDeclaration(name="get_time", parameters_json_schema=CLOCK),
                ]
            )
        ],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_level=level),
    )


def _parallel() -> Reply:
    return Reply(
        tool_calls=(
            ToolUse("get_weather", {"city": "Paris"}),
            ToolUse("get_time", {"tz": "CET"}),
        ),
        reasoning="Both tools are needed here",
    )


def _results(calls: list[Any]) -> Any:
    return types.Content(
        role="user",
        parts=[
            types.Part(
                function_response=types.FunctionResponse(
                    id=call.id, name=call.name, response={"result": f"{call.name} done"}
                )
            )
            for call in calls
        ],
    )


def _chat_bodies(emu: ProviderEmulator) -> list[dict[str, Any]]:
    return [r.body for r in emu.requests if r.method == "POST" and r.model == MODEL]


def test_two_turn_tool_loop(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """Parallel calls with ids, a thought summary and one signature; results; the final answer.

    The model turn goes back as the SDK parsed it, and its signature arrives byte-identical.
    """
    emu.script(dialect, MODEL, _parallel(), Reply("Sunny in Paris at noon"))
    question = types.Content(role="user", parts=[types.Part(text="weather and time in Paris?")])
    first = client.models.generate_content(model=MODEL, contents=[question], config=_tool_config())
    calls = first.function_calls
    assert [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})] == [
        (c.name, c.args) for c in calls
    ]
    assert all(c.id for c in calls) and calls[0].id != calls[1].id
    parts = first.candidates[0].content.parts
    assert (True, "Both tools are needed here") == (parts[0].thought, parts[0].text)
    assert parts[1].thought_signature and parts[2].thought_signature is None
    assert types.FinishReason.STOP == first.candidates[0].finish_reason
    usage = first.usage_metadata
    assert (5, usage.candidates_token_count + 5) == (
        usage.thoughts_token_count,
        usage.total_token_count - usage.prompt_token_count,
    )
    history = [question, first.candidates[0].content, _results(calls)]
    final = client.models.generate_content(model=MODEL, contents=history, config=_tool_config())
    assert "Sunny in Paris at noon" == final.text
    sent = _chat_bodies(emu)[-1]["contents"][1]["parts"]
    signature = parts[1].thought_signature
    assert base64.urlsafe_b64encode(signature).decode() == sent[1]["thoughtSignature"]


def test_streamed_tool_loop(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """The SDK's stream yields thought words, then one whole call per chunk, then the finish."""
    emu.script(dialect, MODEL, _parallel(), Reply("All done now"))
    question = types.Content(role="user", parts=[types.Part(text="weather and time?")])
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents=[question], config=_tool_config()
        )
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert ["get_weather", "get_time"] == [c.name for c in calls]
    thoughts = [p.text for c in chunks for p in c.candidates[0].content.parts or [] if p.thought]
    assert "Both tools are needed here" == "".join(thoughts)
    assert types.FinishReason.STOP == chunks[-1].candidates[0].finish_reason
    model_turn = types.Content(
        role="model",
        parts=[p for c in chunks for p in c.candidates[0].content.parts or [] if p.function_call],
    )
    history = [question, model_turn, _results(calls)]
    text = "".join(
        c.text or ""
        for c in client.models.generate_content_stream(
            model=MODEL, contents=history, config=_tool_config()
        )
    )
    assert "All done now" == text


def test_forced_call_without_a_script(emu: ProviderEmulator, dialect: str, client: Any) -> None:
    """Mode ANY with allowed names and nothing scripted: the model calls that tool."""
    config = _tool_config()
    config.tool_config = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["get_time"]
        )
    )
    answer = client.models.generate_content(model=MODEL, contents="now?", config=config)
    assert [("get_time", {"tz": "x"})] == [(c.name, c.args) for c in answer.function_calls]


def test_invalid_tool_turns_get_the_vendor_400(
    emu: ProviderEmulator, dialect: str, client: Any
) -> None:
    """A Gemini 3 call turn without its signature, and results nobody asked for, are refused."""
    question = types.Content(role="user", parts=[types.Part(text="weather?")])
    unsigned = types.Content(
        role="model",
        parts=[
            types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "x"}))
        ],
    )
    result = types.Content(
        role="user",
        parts=[types.Part.from_function_response(name="get_weather", response={"r": 1})],
    )
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(
            model=MODEL, contents=[question, unsigned, result], config=_tool_config()
        )
    assert (400, "INVALID_ARGUMENT") == (missing.value.code, missing.value.status)
    assert missing.value.message.startswith(
        "Function call is missing a thought_signature in functionCall parts."
    )
    assert "`default_api:get_weather` , position 2." in missing.value.message
    with pytest.raises(errors.ClientError) as orphan:
        client.models.generate_content(
            model=MODEL, contents=[question, result], config=_tool_config()
        )
    assert (
        "Please ensure that function response turn comes immediately after a function call turn."
        == (orphan.value.message)
    )
    assert not emu.requests[-1].body.get("stream")


def test_thinking_level_on_gemini_2_is_refused(
    emu: ProviderEmulator, dialect: str, client: Any
) -> None:
    """thinkingLevel is Gemini 3's; an older model answers Google's 400."""
    emu.script(dialect, "gemini-2.5-flash", "ok")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(
            model="gemini-2.5-flash", contents="x", config=_tool_config()
        )
    assert "Thinking level is not supported for this model." == info.value.message
    budget = _tool_config(level=None)
    budget.thinking_config = types.ThinkingConfig(include_thoughts=True, thinking_budget=128)
    assert (
        "ok"
        == client.models.generate_content(
            model="gemini-2.5-flash", contents="x", config=budget
        ).text
    )


TOOL_BODIES: list[tuple[str, dict[str, Any]]] = [
    (
        "strict on a declaration",
        {"tools": [{"functionDeclarations": [{"name": "f", "strict": True}]}]},
    ),
    ("a parallel switch", {"parallelToolCalls": False}),
    (
        "OpenAI's tool shape",
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
    ),
    (
        "a tool_choice key",
        {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "toolChoice": "f"}}},
    ),
    ("an unknown thinking key", {"generationConfig": {"thinkingConfig": {"effort": "low"}}}),
    (
        "a functionCall key",
        {
            "contents": [
                {"role": "user", "parts": [{"text": "x"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "arguments": "{}"}}]},
            ]
        },
    ),
]


@pytest.mark.parametrize(("what", "extra"), TOOL_BODIES, ids=[w for w, _ in TOOL_BODIES])
def test_the_emulator_refuses_what_the_sdk_types_refuse(
    emu: ProviderEmulator, dialect: str, what: str, extra: dict[str, Any]
) -> None:
    """Tool-shaped bodies google-genai's own (extra=forbid) types reject are 400s here too."""
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **extra}
    with pytest.raises(ValueError):  # pydantic's ValidationError, or an undeclared top-level key
        _validate_with_sdk_types(body)
    status, answer = _post(emu, dialect, body)
    assert 400 == status, what
    assert answer["error"]["message"].startswith("Invalid JSON payload received. Unknown name")


def test_valid_tool_bodies_pass_both(emu: ProviderEmulator, dialect: str) -> None:
    """A full tool turn the SDK's types accept, the emulator answers 200."""
    emu.script(dialect, MODEL, _parallel())
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parametersJsonSchema": WEATHER},
                    {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {}}},
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingLevel": "low"}},
    }
    _validate_with_sdk_types(body)
    status, answer = _post(emu, dialect, body)
    assert 200 == status
    parts = answer["candidates"][0]["content"]["parts"]
    history = [*body["contents"], {"role": "model", "parts": parts}]
    history.append(
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": p["functionCall"]["id"],
                        "name": p["functionCall"]["name"],
                        "response": {},
                    }
                }
                for p in parts
                if "functionCall" in p
            ],
        }
    )
    follow = {**body, "contents": history}
    _validate_with_sdk_types(follow)
    assert 200 == _post(emu, dialect, follow)[0]


def _validate_with_sdk_types(body: dict[str, Any]) -> None:
    """Type each part of a body with google-genai's models (extra=forbid), as the SDK would."""
    undeclared = set(body) - _sdk_top_level()
    if undeclared:
        raise ValueError(f"not a GenerateContentConfig field: {undeclared}")
    for content in body["contents"]:
        types.Content.model_validate(content)
    for tool in body.get("tools", []):
        types.Tool.model_validate(tool)
    if "toolConfig" in body:
        types.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        types.GenerationConfig.model_validate(body["generationConfig"])


def _post(emu: ProviderEmulator, dialect: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a raw generateContent body to a dialect, authenticated as the SDK would be."""
    if dialect == "gemini":
        url = f"{emu.url('gemini')}/v1beta/models/{MODEL}:generateContent"
        headers = {"x-goog-api-key": "k"}
    else:
        from google.auth.transport.requests import Request

        config = emu.config_for("vertex")
        credentials = service_account.Credentials.from_service_account_file(
            config["credentials_path"], scopes=[CLOUD_PLATFORM]
        )
        credentials.refresh(Request())
        headers = {"authorization": f"Bearer {credentials.token}"}
        project = f"projects/{config['project_id']}/locations/{config['location']}"
        url = f"{config['base_url']}/v1/{project}/publishers/google/models/{MODEL}:generateContent"
    response = httpx.post(url, json=body, headers=headers)
    return response.status_code, response.json()


def test_sdk_types_accept_llmorch_tool_bodies(emu: ProviderEmulator, dialect: str) -> None:
    """The bodies llmorch builds for tools, tool_choice, tool results and reasoning round trips
    type with google-genai's own models (extra=forbid), part by part."""
    import anyio

    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}},
        {"type": "function", "function": {"name": "get_time", "parameters": CLOCK}},
    ]
    emu.script(dialect, MODEL, _parallel(), "done", _parallel(), "done")

    async def run() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": dialect,
                "active_model": MODEL,
                "providers": {dialect: emu.config_for(dialect) | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"log_path": "ledger.jsonl"},
            }
        )
        question = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "q"}]
        async with AsyncLLMOrchestrator(config) as orch:
            for choice in ("auto", "required", "get_time"):
                first = await orch.send_request(
                    question, tools=tools, tool_choice=choice, reasoning="low"
                )
                if first.tool_calls:
                    results = [
                        {"role": "tool", "tool_call_id": c.id, "content": "ok"}
                        for c in first.tool_calls
                    ]
                    history = [*question, first.message, *results]
                    await orch.send_request(history, tools=tools, reasoning="high", top_k=3)
            stream = orch.send_streaming_request(question, tools=tools, tool_choice="none")
            async for _ in stream:
                pass

    anyio.run(run)
    bodies = _chat_bodies(emu)
    assert any("toolConfig" in b for b in bodies) and any(
        "functionResponse" in p for b in bodies for c in b["contents"] for p in c["parts"]
    )
    for body in bodies:
        _validate_with_sdk_types(body)
        if "systemInstruction" in body:
            types.Content.model_validate(body["systemInstruction"])


def test_vertex_streamed_call_arguments_parse_in_the_sdk(emu: ProviderEmulator) -> None:
    """With stream_function_call_arguments the SDK sees the call open, its partial_args, the end."""
    config = emu.config_for("vertex")
    credentials = service_account.Credentials.from_service_account_file(
        config["credentials_path"], scopes=[CLOUD_PLATFORM]
    )
    client = genai.Client(
        vertexai=True,
        project=config["project_id"],
        location=config["location"],
        credentials=credentials,
        http_options=types.HttpOptions(base_url=config["base_url"]),
    )
    emu.script("vertex", MODEL, Reply(tool_calls=(ToolUse("get_weather", {"city": "Paris"}),)))
    settings = _tool_config()
    settings.tool_config = types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(
            mode=types.FunctionCallingConfigMode.AUTO, stream_function_call_arguments=True
        )
    )
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="q", config=settings))
    calls = [
        p.function_call
        for c in chunks
        for p in c.candidates[0].content.parts or []
        if p.function_call
    ]
    assert ("get_weather", True) == (calls[0].name, calls[0].will_continue)
    pieces = [a.string_value for call in calls for a in call.partial_args or []]
    assert "Paris" == "".join(pieces)
    assert types.FinishReason.STOP == chunks[-1].candidates[0].finish_reason
