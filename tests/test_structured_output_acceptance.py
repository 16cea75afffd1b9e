"""Issue 14's structured-output acceptance on every provider, over the emulator's real sockets.

``response_format`` as a pydantic class, a ``json_schema`` dict and an array root gives
``.parsed`` on all five providers, plain and streamed, through each vendor's native mechanism;
``output_retries`` sends the validation errors back with one ledger record per attempt;
``OutputValidationError`` carries the text and the errors; a refusal is not a validation error;
and a ``response_format`` that is not a JSON Schema fails before any network call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmorch.output
from llmorch import (
    InvalidRequestError,
    LLMOrchestrator,
    OrchestratorConfig,
    OutputValidationError,
)
from llmorch.capabilities import Capabilities, capabilities
from llmorch.testing import ProviderEmulator, RecordedRequest, Reply, ToolUse
from tests.emulated import one_provider, orch_for

CASES = [
    ("openai", "gpt-5.4-mini"),
    ("anthropic", "claude-haiku-5-5"),
    ("gemini", "gemini-3.8-flash"),
    ("vertex", "gemini-3.8-flash"),
    ("vertex", "claude-haiku-5-5"),
    ("bedrock", "us.anthropic.claude-haiku-5-5"),
]
IDS = [f"{d}-{m}" for d, m in CASES]
ASK = [{"role": "user", "content": "The largest city in France, as JSON."}]
VALID = '{"name": "Paris", "country": "France", "population": 2102650}'
INVALID = '{"name": "Paris", "population": "many"}'  # country missing, population not an int


class City(BaseModel):
    name: str
    country: str
    population: int


class Item(BaseModel):
    name: str
    price: float


CITY_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            },
            "required": ["name", "tags"],
            "additionalProperties": False,
        },
    },
}
ITEMS_SCHEMA: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "items",
        "schema": {
            "type": "array",
            "minItems": 1,  # Anthropic's subset takes minItems 0 or 1 only
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                "required": ["name", "price"],
                "additionalProperties": False,
            },
        },
    },
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def fresh(emu: ProviderEmulator) -> ProviderEmulator:
    emu.clear()
    return emu


def config_for(emu: ProviderEmulator, dialect: str, model: str, ledger: Path) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(one_provider(emu, dialect, model, ledger))


def chats(emu: ProviderEmulator, model: str) -> list[RecordedRequest]:
    """The chat requests that named ``model`` (model listings name none)."""
    return [r for r in emu.requests if r.model == model and r.body is not None]


def sent_schema(dialect: str, model: str, body: dict[str, Any]) -> Any:
    """The JSON Schema a request carried: in the vendor's native field, or as the parameters of
    the forced ``structured_output`` tool where the table says the model has no native one."""
    if capabilities(dialect, model).structured_output == "tool":
        return output_tool_schema(dialect, model, body)
    if dialect == "openai":
        return body["response_format"]["json_schema"]["schema"]
    if dialect == "anthropic" or (dialect == "vertex" and model.startswith("claude")):
        return body["output_config"]["format"]["schema"]
    if dialect in ("gemini", "vertex"):
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        return body["generationConfig"]["responseJsonSchema"]
    text_format = body["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    schema = text_format["structure"]["jsonSchema"]["schema"]
    assert isinstance(schema, str)  # Converse takes the schema as a JSON string
    return json.loads(schema)


def output_tool_schema(dialect: str, model: str, body: dict[str, Any]) -> Any:
    """The parameters of the ``structured_output`` tool in a request body."""
    name = llmorch.output.TOOL_NAME
    if dialect == "openai":
        return next(
            t["function"]["parameters"] for t in body["tools"] if t["function"]["name"] == name
        )
    if dialect == "anthropic" or (dialect == "vertex" and model.startswith("claude")):
        return next(t["input_schema"] for t in body["tools"] if t["name"] == name)
    if dialect in ("gemini", "vertex"):
        declarations = [d for t in body["tools"] for d in t.get("functionDeclarations", [])]
        found = next(d for d in declarations if d["name"] == name)
        return found.get("parametersJsonSchema") or found["parameters"]
    specs = [t["toolSpec"] for t in body["toolConfig"]["tools"] if "toolSpec" in t]
    return next(spec["inputSchema"]["json"] for spec in specs if spec["name"] == name)


def answer(dialect: str, model: str, text: str) -> Reply:
    """A scripted answer with this JSON text, the way the model gives it: as text, or as the
    forced tool's arguments where the table says the model has no native mechanism."""
    if capabilities(dialect, model).structured_output == "tool":
        return Reply(tool_calls=(ToolUse(llmorch.output.TOOL_NAME, text),))
    return Reply(text)


def records(ledger: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in ledger.read_text().splitlines()]


def wraps(dialect: str, model: str) -> bool:
    """Whether the table says this model needs a non-object root wrapped (a forced tool's
    arguments are always an object)."""
    caps = capabilities(dialect, model)
    return caps.json_schema_root == "object" or caps.structured_output == "tool"


# --------------------------------------------------------------------------- parsed answers


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_pydantic_class_gives_an_instance(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The schema goes out the model's way (native, or the forced tool where the table says
    so) and the schema-shaped answer comes back as a City."""
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        response = await orch.send_request(ASK, response_format=City)
    assert isinstance(response.parsed, City)
    assert City.model_validate_json(response.content) == response.parsed
    (request,) = chats(fresh, model)
    schema = sent_schema(dialect, model, request.body)
    assert set(schema["properties"]) == {"name", "country", "population"}
    assert response.warnings == []


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_json_schema_dict_gives_the_parsed_json(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """A schema dict gives plain JSON, shaped as asked (minItems honoured)."""
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        response = await orch.send_request(ASK, response_format=CITY_SCHEMA)
    parsed = response.parsed
    assert isinstance(parsed, dict)
    assert isinstance(parsed["name"], str)
    assert len(parsed["tags"]) >= 1 and all(isinstance(t, str) for t in parsed["tags"])
    (request,) = chats(fresh, model)
    assert sent_schema(dialect, model, request.body)["required"] == ["name", "tags"]


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["request", "stream"])
@pytest.mark.parametrize("fmt", [list[Item], ITEMS_SCHEMA], ids=["list-Item", "array-schema"])
async def test_an_array_root_works_everywhere(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str, stream: bool, fmt: Any
) -> None:
    """An array root is wrapped where the vendor needs an object root, and always unwrapped."""
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        if stream:
            answer = orch.send_streaming_request(ASK, response_format=fmt)
            text = "".join([chunk async for chunk in answer])
            response = answer.response
            assert text == response.content
        else:
            response = await orch.send_request(ASK, response_format=fmt)
    parsed = response.parsed
    assert isinstance(parsed, list)
    if fmt is ITEMS_SCHEMA:
        assert len(parsed) >= 1
        assert all(
            isinstance(i["name"], str) and isinstance(i["price"], int | float) for i in parsed
        )
    else:
        assert all(isinstance(item, Item) for item in parsed)
    (request,) = chats(fresh, model)
    schema = sent_schema(dialect, model, request.body)
    if wraps(dialect, model):
        assert schema["type"] == "object"
        assert schema["properties"]["value"]["type"] == "array"
    else:
        assert schema["type"] == "array"
    if dialect == "openai":  # strict mode takes an object root only
        assert wraps(dialect, model)


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_streamed_answer_is_parsed_at_the_end(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The stream yields the JSON text; stream.response.parsed is the validated instance."""
    fresh.script(dialect, model, answer(dialect, model, VALID))
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        stream = orch.send_streaming_request(ASK, response_format=City)
        chunks = [chunk async for chunk in stream]
    assert len(chunks) > 1
    assert json.loads("".join(chunks)) == json.loads(VALID)
    assert stream.response.parsed == City.model_validate_json(VALID)
    assert len(records(tmp_path / "ledger.jsonl")) == 1


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_json_object_mode_gives_the_parsed_json(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """``{"type": "json_object"}`` parses whatever JSON the model wrote."""
    fresh.script(dialect, model, Reply('{"ok": true, "n": 3}'))
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        response = await orch.send_request(ASK, response_format={"type": "json_object"})
    assert response.parsed == {"ok": True, "n": 3}


def lookup(city: str) -> str:
    """The population of a city.

    Args:
        city: The city's name.
    """
    return f"{city}: 2102650"


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_run_tools_applies_the_format_to_the_final_answer(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """A turn that calls a tool is not parsed; the final answer is, into result.parsed."""
    fresh.script(
        dialect,
        model,
        Reply(tool_calls=(ToolUse("lookup", {"city": "Paris"}),)),
        answer(dialect, model, VALID),
    )
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        result = await orch.run_tools(ASK, tools=[lookup], response_format=City)
    assert len(result.turns) == 2
    assert result.parsed == City.model_validate_json(VALID)
    assert len(records(ledger)) == 2


def test_the_sync_facade_parses_and_retries_too(fresh: ProviderEmulator, tmp_path: Path) -> None:
    """LLMOrchestrator takes response_format and output_retries; its stream ends parsed."""
    dialect, model = CASES[0]
    fresh.script(dialect, model, Reply(INVALID), Reply(VALID), Reply(VALID))
    with LLMOrchestrator(config_for(fresh, dialect, model, tmp_path / "ledger.jsonl")) as orch:
        response = orch.send_request(ASK, response_format=City, output_retries=1)
        stream = orch.send_streaming_request(ASK, response_format=City)
        text = "".join(stream)
    assert response.parsed == City.model_validate_json(VALID)
    assert json.loads(text) == json.loads(VALID)
    assert stream.response.parsed == response.parsed
    assert len(records(tmp_path / "ledger.jsonl")) == 3


# --------------------------------------------------------------------------- the forced-tool mode


@pytest.fixture
def no_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model looks like one the table says has no native mechanism (``tool``)."""
    monkeypatch.setattr(
        llmorch.output, "capabilities", lambda *_: Capabilities(structured_output="tool")
    )


@pytest.mark.usefixtures("no_native")
@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
@pytest.mark.parametrize("stream", [False, True], ids=["request", "stream"])
async def test_without_a_native_mechanism_a_forced_tool_carries_the_schema(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str, stream: bool
) -> None:
    """The output tool's call becomes the answer's text: parsed, finish stop, no tool calls."""
    city = {"name": "Lyon", "country": "France", "population": 522250}
    fresh.script(dialect, model, Reply(tool_calls=(ToolUse("structured_output", city),)))
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        if stream:
            answer = orch.send_streaming_request(ASK, response_format=City)
            text = "".join([chunk async for chunk in answer])
            response = answer.response
            assert json.loads(text) == city  # the tool's arguments stream as text
        else:
            response = await orch.send_request(ASK, response_format=City)
    assert response.parsed == City(**city)
    assert response.finish_reason == "stop" and response.tool_calls == []
    (request,) = chats(fresh, model)
    assert "structured_output" in json.dumps(request.body)


@pytest.mark.usefixtures("no_native")
@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_forced_tool_wraps_an_array_root(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """Tool arguments are an object: a list root travels as {"value": [...]} and comes back a
    list."""
    items = [{"name": "bread", "price": 2.5}, {"name": "croissant", "price": 1.2}]
    fresh.script(
        dialect, model, Reply(tool_calls=(ToolUse("structured_output", {"value": items}),))
    )
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        response = await orch.send_request(ASK, response_format=list[Item])
    assert response.parsed == [Item(**i) for i in items]


# --------------------------------------------------------------------------- validation, retries


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_output_retries_sends_the_errors_back(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """One retry: two requests, the second carries the invalid answer and the errors; two
    ledger records."""
    fresh.script(dialect, model, answer(dialect, model, INVALID), answer(dialect, model, VALID))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        response = await orch.send_request(ASK, response_format=City, output_retries=1)
    assert response.parsed == City.model_validate_json(VALID)
    first, second = chats(fresh, model)
    quoted = '\\"many\\"'  # the invalid answer's value, inside a JSON string of the body
    assert quoted not in json.dumps(first.body)
    resent = json.dumps(second.body)
    assert quoted in resent  # the model's own answer goes back
    assert "country: Field required" in resent  # and what was wrong with it
    assert "population: Input should be a valid integer" in resent
    assert len(records(ledger)) == 2


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_invalid_output_raises_with_text_and_errors(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """Without retries, an invalid answer raises after its ledger record."""
    fresh.script(dialect, model, answer(dialect, model, INVALID))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        with pytest.raises(OutputValidationError) as info:
            await orch.send_request(ASK, response_format=City)
    error = info.value
    assert json.loads(error.text) == json.loads(INVALID)
    assert {tuple(e["loc"]) for e in error.errors} == {("country",), ("population",)}
    assert all(e["msg"] and e["type"] for e in error.errors)
    assert error.response is not None and error.response.content == error.text
    assert len(records(ledger)) == 1
    assert len(chats(fresh, model)) == 1


@pytest.mark.parametrize(("dialect", "model"), CASES[:2], ids=IDS[:2])
async def test_retries_that_stay_invalid_raise_after_every_record(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """output_retries=1 with two invalid answers: two records, then the error of the last."""
    fresh.script(dialect, model, Reply(INVALID), Reply('{"name": 7}'))
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        with pytest.raises(OutputValidationError) as info:
            await orch.send_request(ASK, response_format=City, output_retries=1)
    assert info.value.text == '{"name": 7}'
    assert len(records(ledger)) == 2
    assert len(chats(fresh, model)) == 2


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_streaming_with_output_retries_is_refused(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """A stream cannot take back what it delivered: refused before any request."""
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        with pytest.raises(InvalidRequestError, match="output_retries"):
            stream = orch.send_streaming_request(ASK, response_format=City, output_retries=1)
            async for _ in stream:
                pass
    assert chats(fresh, model) == []


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_refusal_is_not_a_validation_error(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The vendor's refusal is finish_reason content_filter with its text; parsed stays None."""
    refusal = "I can't help with that request."
    fresh.script(dialect, model, Reply(refusal, finish_reason="content_filter"))
    async with orch_for(fresh, dialect, model, tmp_path / "ledger.jsonl") as orch:
        response = await orch.send_request(ASK, response_format=City, output_retries=1)
    assert response.finish_reason == "content_filter"
    assert response.content == refusal
    assert response.parsed is None
    assert len(chats(fresh, model)) == 1  # a refusal is not retried


# --------------------------------------------------------------------------- bad input

BAD_FORMATS = [
    (
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integr"}}},
        "response_format.json_schema.schema",
    ),
    (
        {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": 5}}},
        },
        "response_format.json_schema.schema.properties.a",
    ),
    ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema"),
    (
        {"type": "json_schema", "json_schema": {"name": "no spaces", "schema": {}}},
        "response_format.json_schema.name",
    ),
    ({"type": "xml"}, "response_format"),
    (42, "response_format"),
]


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
@pytest.mark.parametrize(("fmt", "path"), BAD_FORMATS, ids=[p for _, p in BAD_FORMATS])
async def test_a_format_that_is_not_a_json_schema_fails_before_any_call(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str, fmt: Any, path: str
) -> None:
    """The message names the path of the problem and nothing reaches the emulator."""
    ledger = tmp_path / "ledger.jsonl"
    async with orch_for(fresh, dialect, model, ledger) as orch:
        with pytest.raises(InvalidRequestError) as info:
            await orch.send_request(ASK, response_format=fmt)
    assert str(info.value).startswith(path) or f"{path}:" in str(info.value)
    assert chats(fresh, model) == []
    assert not ledger.exists() or ledger.read_text() == ""
