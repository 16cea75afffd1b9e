"""The Gemini and Vertex dialects serve tool calls and thoughts and refuse bad tool turns as Google.

Raw HTTP, so each assertion is about the wire: the recorded shapes under ``tests/fixtures/google``
and the 400 wordings quoted in ``llmorch.testing._google_schema``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from llmorch.providers import _google
from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.testing._google_schema import THOUGHT_SIGNATURE, call_signature_text
from llmorch.testing._signing import sign

MODEL = "gemini-3.8-flash"
DIALECTS = ["gemini", "vertex"]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [
    {
        "functionDeclarations": [
            {"name": "get_weather", "parametersJsonSchema": WEATHER},
            {"name": "get_time", "parameters": {"type": "OBJECT", "properties": {}}},
        ]
    }
]
QUESTION = {"role": "user", "parts": [{"text": "weather in Paris?"}]}
THINKING = {"thinkingConfig": {"includeThoughts": True, "thinkingLevel": "LOW"}}


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def _url(
    emu: ProviderEmulator, dialect: str, model: str, method: str
) -> tuple[str, dict[str, str]]:
    if dialect == "gemini":
        return f"{emu.url('gemini')}/v1beta/models/{model}:{method}", {"x-goog-api-key": "k"}
    config = emu.config_for("vertex")
    project = f"projects/{config['project_id']}/locations/{config['location']}"
    url = f"{config['base_url']}/v1/{project}/publishers/google/models/{model}:{method}"
    return url, {"authorization": f"Bearer {_token(config['credentials_path'])}"}


def _token(credentials_path: str) -> str:
    """A token from the emulator's OAuth endpoint, through llmorch's own token source (google-auth
    over httpx: the tests session has no ``requests``)."""

    async def fetch() -> str:
        source = _google.TokenSource("vertex", credentials_path)
        try:
            return (await source.get()).token
        finally:
            source.close()

    return anyio.run(fetch)


def post(
    emu: ProviderEmulator, body: dict[str, Any], *, dialect: str = "gemini", model: str = MODEL
) -> tuple[int, Any]:
    url, headers = _url(emu, dialect, model, "generateContent")
    response = httpx.post(url, json=body, headers=headers)
    return response.status_code, response.json()


def stream(
    emu: ProviderEmulator, body: dict[str, Any], *, dialect: str = "gemini", model: str = MODEL
) -> bytes:
    url, headers = _url(emu, dialect, model, "streamGenerateContent")
    try:
        return httpx.post(url + "?alt=sse", json=body, headers=headers).content
    except httpx.RemoteProtocolError as cut:
        return str(cut).encode()


def events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(e[6:]) for e in raw.decode().split("\r\n\r\n") if e.startswith("data: ")]


def parts_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return list(answer["candidates"][0]["content"]["parts"])


def refusal(answer: dict[str, Any]) -> str:
    assert "INVALID_ARGUMENT" == answer["error"]["status"]
    return str(answer["error"]["message"])


def parallel(reasoning: str | None = "Two tools are needed") -> Reply:
    return Reply(
        "Let me check",
        tool_calls=(ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time")),
        reasoning=reasoning,
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_parallel_calls_come_whole_with_ids_and_one_signature(
    emu: ProviderEmulator, dialect: str
) -> None:
    """Gemini 3: text, then functionCall parts with ids; only the first carries the signature."""
    emu.script(dialect, MODEL, parallel(reasoning=None))
    status, answer = post(emu, {"contents": [QUESTION], "tools": TOOLS}, dialect=dialect)
    assert 200 == status
    text, first, second = parts_of(answer)
    assert {"text": "Let me check"} == text
    assert ("get_weather", {"city": "Paris"}) == (
        first["functionCall"]["name"],
        first["functionCall"]["args"],
    )
    assert first["functionCall"]["id"] != second["functionCall"]["id"]
    signature = sign(THOUGHT_SIGNATURE, call_signature_text(first["functionCall"]))
    assert signature == first["thoughtSignature"] and "thoughtSignature" not in second
    candidate = answer["candidates"][0]
    assert ("STOP", "Model generated function call(s).") == (
        candidate["finishReason"],
        candidate["finishMessage"],
    )
    assert "thoughtsTokenCount" not in answer["usageMetadata"]


def test_thoughts_only_when_asked_and_counted_apart(emu: ProviderEmulator) -> None:
    """includeThoughts shows the summary; thoughtsTokenCount is reported apart either way."""
    emu.script("gemini", MODEL, parallel(), parallel())
    _, hidden = post(emu, {"contents": [QUESTION], "tools": TOOLS})
    _, shown = post(emu, {"contents": [QUESTION], "tools": TOOLS, "generationConfig": THINKING})
    assert not any(p.get("thought") for p in parts_of(hidden))
    assert {"text": "Two tools are needed", "thought": True} == parts_of(shown)[0]
    usage = shown["usageMetadata"]
    assert 4 == usage["thoughtsTokenCount"] == hidden["usageMetadata"]["thoughtsTokenCount"]
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


def test_a_signed_text_answer_and_gemini_2_signing(emu: ProviderEmulator) -> None:
    """Gemini 3 signs a thinking text answer; Gemini 2.5 signs and sends no ids only when shown."""
    emu.script("gemini", MODEL, Reply("done", reasoning="hmm"))
    emu.script("gemini", "gemini-2.5-flash", parallel(), parallel())
    _, signed = post(emu, {"contents": [QUESTION]})
    assert sign(THOUGHT_SIGNATURE, "text") == parts_of(signed)[0]["thoughtSignature"]
    budget = {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512}}
    _, plain = post(emu, {"contents": [QUESTION], "tools": TOOLS}, model="gemini-2.5-flash")
    _, shown = post(
        emu,
        {"contents": [QUESTION], "tools": TOOLS, "generationConfig": budget},
        model="gemini-2.5-flash",
    )
    assert not any(
        "thoughtSignature" in p or "id" in p.get("functionCall", {}) for p in parts_of(plain)
    )
    assert "thoughtSignature" in parts_of(shown)[2]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_sends_thoughts_words_then_one_call_per_chunk(
    emu: ProviderEmulator, dialect: str
) -> None:
    """The stream's shape follows the recordings: thought words, text, whole calls, empty finish."""
    emu.script(dialect, MODEL, parallel())
    body = {"contents": [QUESTION], "tools": TOOLS, "generationConfig": THINKING}
    chunks = events(stream(emu, body, dialect=dialect))
    parts = [parts_of(c) for c in chunks]
    assert [[{"text": "Two", "thought": True}], [{"text": " tools", "thought": True}]] == parts[:2]
    assert ["get_weather", "get_time"] == [
        p[0]["functionCall"]["name"] for p in parts if "functionCall" in p[0]
    ]
    assert [{"text": ""}] == parts[-1] and "STOP" == chunks[-1]["candidates"][0]["finishReason"]
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert "candidatesTokenCount" in chunks[-1]["usageMetadata"]


def test_a_cut_mid_call_sends_half_of_the_last_call(emu: ProviderEmulator) -> None:
    """Fault.cut with tool calls: text, the first call whole, half of the second, no finish."""
    calls = (ToolUse("get_weather", {"city": "Paris"}), ToolUse("get_time", {"tz": "UTC"}))
    emu.script("gemini", MODEL, Fault.cut(after=1, text="Checking now", tool_calls=calls))
    emu.script(
        "gemini", MODEL, Fault.cut(after=1, text="Checking now", clean=True, tool_calls=calls)
    )
    url, headers = _url(emu, "gemini", MODEL, "streamGenerateContent")
    body = {"contents": [QUESTION], "tools": TOOLS}
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", url + "?alt=sse", json=body, headers=headers) as response:
            for data in response.iter_raw():
                received += data
    complete, rest = received.rsplit(b"\r\n\r\n", 1)
    assert [["Checking"], ["get_weather"]] == [
        [p.get("text") or p["functionCall"]["name"] for p in parts_of(c)]
        for c in events(complete + b"\r\n\r\n")
    ]
    assert rest.startswith(b"data: {") and b"get_time" in rest and b"finishReason" not in received
    clean = events(stream(emu, body))
    assert 2 == len(clean) and all("finishReason" not in c["candidates"][0] for c in clean)


def test_malformed_scripted_arguments_are_a_malformed_function_call(emu: ProviderEmulator) -> None:
    """Arguments that are no JSON object cannot be args: finishReason MALFORMED_FUNCTION_CALL."""
    emu.script("gemini", MODEL, Reply(tool_calls=(ToolUse("get_weather", '{"city": "Par'),)))
    _, answer = post(emu, {"contents": [QUESTION], "tools": TOOLS})
    assert "MALFORMED_FUNCTION_CALL" == answer["candidates"][0]["finishReason"]
    assert not any("functionCall" in p for p in parts_of(answer))


def test_forced_mode_any_calls_the_first_allowed_tool(emu: ProviderEmulator) -> None:
    """Mode ANY with nothing scripted: default arguments for the tool's required properties."""
    calling = {"mode": "any", "allowedFunctionNames": ["get_weather"]}
    body = {
        "contents": [QUESTION],
        "tools": TOOLS,
        "toolConfig": {"functionCallingConfig": calling},
    }
    _, answer = post(emu, body)
    call = parts_of(answer)[0]["functionCall"]
    assert ("get_weather", {"city": "x"}) == (call["name"], call["args"])
    _, free = post(emu, {**body, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})
    assert "get_weather" == parts_of(free)[0]["functionCall"]["name"]


def _loop(emu: ProviderEmulator, dialect: str = "gemini") -> list[dict[str, Any]]:
    """A first turn's contents after the parallel-call answer, with both results."""
    emu.script(dialect, MODEL, parallel(), "It is sunny")
    _, answer = post(emu, {"contents": [QUESTION], "tools": TOOLS}, dialect=dialect)
    model = {"role": "model", "parts": parts_of(answer)}
    results = [
        {
            "functionResponse": {
                "id": p["functionCall"]["id"],
                "name": p["functionCall"]["name"],
                "response": {"ok": True},
            }
        }
        for p in model["parts"]
        if "functionCall" in p
    ]
    return [QUESTION, model, {"role": "user", "parts": results}]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_complete_tool_turn_is_answered(emu: ProviderEmulator, dialect: str) -> None:
    """The answer sent back unchanged (snake_case spellings too) with both results: 200."""
    contents = _loop(emu, dialect)
    snake = json.loads(json.dumps(contents).replace("thoughtSignature", "thought_signature"))
    status, answer = post(emu, {"contents": snake, "tools": TOOLS}, dialect=dialect)
    assert (200, "It is sunny") == (status, parts_of(answer)[0]["text"])


BROKEN: list[tuple[str, Any, str]] = [
    (
        "the signature dropped",
        lambda c: c[1]["parts"][1].pop("thoughtSignature"),
        (
            "Function call is missing a thought_signature in functionCall parts. This is required "
            "for tools to work correctly, and missing thought_signature may lead to degraded model "
            "performance. Additional data, function call `default_api:get_weather` , position 2. "
            "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
            "details."
        ),
    ),
    (
        "the arguments changed under the signature",
        lambda c: c[1]["parts"][1]["functionCall"]["args"].update(city="Rome"),
        "Corrupted thought signature.",
    ),
    (
        "a result missing",
        lambda c: c[2]["parts"].pop(),
        (
            "Please ensure that the number of function response parts is equal to the number of "
            "function call parts of the function call turn."
        ),
    ),
    (
        "a result for another call id",
        lambda c: c[2]["parts"][0]["functionResponse"].update(id="other"),
        "functionResponse.id does not match functionCall.id",
    ),
    (
        "results without their call turn",
        lambda c: c.pop(1),
        "Please ensure that function response turn comes immediately after a function call turn.",
    ),
    (
        "a call turn after a model turn",
        lambda c: c.insert(1, {"role": "model", "parts": [{"text": "hm"}]}),
        (
            "Please ensure that function call turn comes immediately after a user turn or after a "
            "function response turn."
        ),
    ),
]


@pytest.mark.parametrize(("what", "break_it", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_tool_turns_get_googles_400(
    emu: ProviderEmulator, what: str, break_it: Any, message: str
) -> None:
    """Each broken history is refused with the wording Google's live 400s use."""
    contents = _loop(emu)
    break_it(contents)
    status, answer = post(emu, {"contents": contents, "tools": TOOLS})
    assert (400, message) == (status, refusal(answer)), what


def test_documented_dummy_signatures_pass(emu: ProviderEmulator) -> None:
    """Google's documented stand-in for a lost signature is taken on a Gemini 3 call turn."""
    contents = _loop(emu)
    contents[1]["parts"][1]["thoughtSignature"] = "skip_thought_signature_validator"
    assert 200 == post(emu, {"contents": contents, "tools": TOOLS})[0]


def test_names_are_matched_when_calls_have_no_ids(emu: ProviderEmulator) -> None:
    """Gemini 2.5 calls carry no id: results pair by name, an unknown name is refused."""
    model = {"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {}}}]}
    answered = {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_time", "response": {}}}],
    }
    wrong = {"role": "user", "parts": [{"functionResponse": {"name": "get_date", "response": {}}}]}
    emu.script("gemini", "gemini-2.5-flash", "ok")
    ok = post(emu, {"contents": [QUESTION, model, answered]}, model="gemini-2.5-flash")
    assert 200 == ok[0]
    status, answer = post(emu, {"contents": [QUESTION, model, wrong]}, model="gemini-2.5-flash")
    assert 400 == status and "function_response.name" in refusal(answer)


@pytest.mark.parametrize(
    ("dialect", "status"), [("gemini", 400), ("vertex", 200)], ids=["gemini", "vertex"]
)
def test_additional_properties_in_a_schema(
    emu: ProviderEmulator, dialect: str, status: int
) -> None:
    """Gemini API Schemas have no additionalProperties (use parametersJsonSchema); Vertex's do."""
    strict = {**WEATHER, "additionalProperties": False}
    nested = {"type": "object", "properties": {"a": {"type": "string"}, "b": strict}}
    tools = [{"functionDeclarations": [{"name": "f", "parameters": nested}]}]
    got, answer = post(emu, {"contents": [QUESTION], "tools": tools}, dialect=dialect)
    assert status == got
    if dialect == "gemini":
        assert (
            'Invalid JSON payload received. Unknown name "additionalProperties" at '
            "'tools[0].function_declarations[0].parameters.properties[1].value': Cannot find field."
        ) == refusal(answer)
        field = answer["error"]["details"][0]["fieldViolations"][0]["field"]
        assert "tools[0].function_declarations[0].parameters.properties[1].value" == field
        schema = {"responseMimeType": "application/json", "responseSchema": strict}
        _, response = post(emu, {"contents": [QUESTION], "generationConfig": schema})
        assert "at 'generation_config.response_schema'" in refusal(response)
        json_schema = [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": strict}]}]
        assert 200 == post(emu, {"contents": [QUESTION], "tools": json_schema})[0]


REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "an invalid function name",
        {"tools": [{"functionDeclarations": [{"name": "9 lives"}]}]},
        MODEL,
        (
            "* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function "
            "name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
            "underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.\n"
        ),
    ),
    (
        "an unknown calling mode",
        {"toolConfig": {"functionCallingConfig": {"mode": "REQUIRED"}}},
        MODEL,
        (
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            'google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "REQUIRED"'
        ),
    ),
    (
        "allowed names without mode ANY",
        {
            "tools": TOOLS,
            "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": ["get_time"]}},
        },
        MODEL,
        (
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "only allowed when mode is ANY or VALIDATED.\n"
        ),
    ),
    (
        "an allowed name no tool declares",
        {
            "tools": TOOLS,
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["nope"]}
            },
        },
        MODEL,
        (
            "* GenerateContentRequest.tool_config.function_calling_config."
            "allowed_function_names[0]: function name 'nope' is not declared in tools.\n"
        ),
    ),
    (
        "a parallel switch",
        {"parallelToolCalls": False},
        MODEL,
        'Invalid JSON payload received. Unknown name "parallelToolCalls": Cannot find field.',
    ),
    (
        "thinkingLevel to Gemini 2.5",
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
        "gemini-2.5-flash",
        "Thinking level is not supported for this model.",
    ),
    (
        "MINIMAL to a Pro model",
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "minimal"}}},
        "gemini-3.1-pro-preview",
        "Thinking level MINIMAL is not supported for this model.",
    ),
    (
        "an unknown thinking level",
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "max"}}},
        MODEL,
        (
            "Invalid value at 'generation_config.thinking_config.thinking_level' "
            "(type.googleapis.com/google.ai.generativelanguage.v1beta."
            'ThinkingConfig.ThinkingLevel), "max"'
        ),
    ),
    (
        "a trailing model turn on Gemini 3.8",
        {"contents": [QUESTION, {"role": "model", "parts": [{"text": "The weather is"}]}]},
        MODEL,
        (
            "Requests ending with a model turn are not supported unless the last part is a "
            "function response."
        ),
    ),
]


@pytest.mark.parametrize(
    ("what", "extra", "model", "message"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_refused_requests(
    emu: ProviderEmulator, what: str, extra: dict[str, Any], model: str, message: str
) -> None:
    """Tool, thinking and turn rules, each with Google's wording (sources in _google_schema)."""
    emu.script("gemini", "gemini-2.5-flash", "unused")
    status, answer = post(emu, {"contents": [QUESTION], **extra}, model=model)
    assert (400, message) == (status, refusal(answer)), what


def test_what_older_models_still_take(emu: ProviderEmulator) -> None:
    """A trailing model turn is prefill on 3.5 Flash and 3.1 Pro; thinkingBudget on Gemini 3."""
    prefill = {"contents": [QUESTION, {"role": "model", "parts": [{"text": "The weather"}]}]}
    assert 200 == post(emu, prefill, model="gemini-3.5-flash")[0]
    assert 200 == post(emu, prefill, model="gemini-3.1-pro-preview")[0]
    budget = {"contents": [QUESTION], "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    assert 200 == post(emu, budget)[0]


def test_vertex_streams_call_arguments_when_asked(emu: ProviderEmulator) -> None:
    """streamFunctionCallArguments: each call opens by name, partialArgs follow, {} closes it;
    llmorch's parser assembles the scripted arguments back (nested, numbers, strings in pieces).
    """
    from llmorch._sse import SSEDecoder
    from llmorch.providers._gemini_stream import GeminiStreamParser
    from llmorch.streaming import StreamAccumulator

    nested = {"recipe": {"items": [{"name": "egg", "count": 2}], "vegan": False}, "note": "ok"}
    reply = Reply(tool_calls=(ToolUse("cook", nested), ToolUse("get_time")))
    emu.script("vertex", MODEL, reply, reply)
    calling = {"mode": "AUTO", "streamFunctionCallArguments": True}
    tools = [{"functionDeclarations": [{"name": "cook"}, {"name": "get_time"}]}]
    body = {
        "contents": [QUESTION],
        "tools": tools,
        "toolConfig": {"functionCallingConfig": calling},
    }
    raw = stream(emu, body, dialect="vertex")
    parts = [parts_of(c)[0] for c in events(raw)]
    assert {"name": "cook", "willContinue": True} == {
        k: v for k, v in parts[0]["functionCall"].items() if k != "id"
    }
    assert "thoughtSignature" in parts[0]
    assert {"jsonPath": "$.recipe.items[0].name", "stringValue": "e", "willContinue": True} == (
        parts[1]["functionCall"]["partialArgs"][0]
    )
    assert 2 == sum(p == {"functionCall": {}} for p in parts)

    class Adapter:
        def decode_event(self, data: str, model: str, request_id: str | None) -> Any:
            return json.loads(data)

    parser = GeminiStreamParser(Adapter(), MODEL, None)  # type: ignore[arg-type]
    acc = StreamAccumulator()
    for sse in SSEDecoder(bare_json=True).feed(raw):
        for event in parser(sse):
            acc.translate(event)
    assert [("cook", nested), ("get_time", {})] == [(c.name, c.arguments) for c in acc.tool_calls]
    assert "tool_calls" == acc.finish_reason
    status, answer = post(emu, body, dialect="vertex")  # unary answers stay whole
    assert 200 == status and "args" in parts_of(answer)[0]["functionCall"]
