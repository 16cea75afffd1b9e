"""The official anthropic SDK parses everything the emulator's Anthropic dialect serves."""

from __future__ import annotations

import base64
import json
import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest
import typing_extensions

from llmorch.testing import Fault, ProviderEmulator, Reply, ToolUse
from llmorch.testing._anthropic_schema import LATEST_VERSION, request_schema
from llmorch.testing._strict import Arr, Either, Tagged
from tests.conformance._bodies import llmorch_bodies
from tests.conformance._typed import check_body

anthropic = pytest.importorskip("anthropic")
anthropic_types = pytest.importorskip("anthropic.types")
params_types = pytest.importorskip("anthropic.types.message_create_params")

MODEL = "claude-haiku-5-5"  # the emulator's default model
MESSAGES: list[Any] = [{"role": "user", "content": "one two three"}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: ProviderEmulator) -> Iterator[Any]:
    with anthropic.Anthropic(base_url=emu.url("anthropic"), api_key="k", max_retries=0) as sdk:
        yield sdk


def test_message(emu: ProviderEmulator, client: Any) -> None:
    """A message parses into typed blocks with text, stop reason and usage."""
    emu.script("anthropic", MODEL, Reply("alpha beta gamma"))
    message = client.messages.create(
        model=MODEL, max_tokens=100, system="be brief", messages=MESSAGES
    )
    assert "alpha beta gamma" == message.content[0].text
    assert "end_turn" == message.stop_reason
    assert (5, 3) == (message.usage.input_tokens, message.usage.output_tokens)
    assert 0 == message.usage.cache_read_input_tokens


def test_max_tokens_stop(emu: ProviderEmulator, client: Any) -> None:
    """Hitting max_tokens reads as stop_reason max_tokens."""
    emu.script("anthropic", MODEL, "a b c d")
    message = client.messages.create(model=MODEL, max_tokens=2, messages=MESSAGES)
    assert ("a b", "max_tokens") == (message.content[0].text, message.stop_reason)


def test_streaming_events_and_final_message(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's stream helper builds the final message and usage from the emulator's events."""
    emu.script("anthropic", MODEL, "delta epsilon zeta")
    with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "delta epsilon zeta" == text == final.content[0].text
    assert "end_turn" == final.stop_reason
    assert (3, 3) == (final.usage.input_tokens, final.usage.output_tokens)


def test_raw_event_order(emu: ProviderEmulator, client: Any) -> None:
    """The raw events come in the documented order, ping included."""
    events = list(
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}


def test_model_listing_pages(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's auto-pager walks every page of the small-page model list."""
    ids = [m.id for m in client.models.list(limit=2)]
    assert emu.models("anthropic") == ids
    assert 3 == sum(1 for r in emu.requests if r.method == "GET")


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.http(400), "BadRequestError", 400),
        (Fault.http(400, error="context_length"), "BadRequestError", 400),
        (Fault.http(401), "AuthenticationError", 401),
        (Fault.http(403), "PermissionDeniedError", 403),
        (Fault.http(404), "NotFoundError", 404),
        (Fault.rate_limit(3), "RateLimitError", 429),
        (Fault.http(500), "InternalServerError", 500),
        (Fault.overloaded(), "OverloadedError", 529),
    ],
)
def test_scripted_errors(
    emu: ProviderEmulator, client: Any, fault: Fault, error: str, status: int
) -> None:
    """Each scripted error raises the SDK's matching class with status, type and request id."""
    emu.script("anthropic", MODEL, fault)
    cls = getattr(anthropic, error, anthropic.APIStatusError)
    with pytest.raises(cls) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    assert status == info.value.status_code
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert info.value.body["type"] == "error"


def test_in_stream_overloaded_error(emu: ProviderEmulator, client: Any) -> None:
    """An `event: error` mid-stream raises the SDK's APIStatusError-family error."""
    emu.script("anthropic", MODEL, Fault.stream_error(after=1))
    with pytest.raises(anthropic.APIError, match="Overloaded"):
        with client.messages.stream(model=MODEL, max_tokens=100, messages=MESSAGES) as stream:
            for _ in stream.text_stream:
                pass


def test_missing_key_is_401(emu: ProviderEmulator) -> None:
    """A request with the wrong key (pinned keys) is the vendor's 401."""
    with ProviderEmulator(api_keys={"anthropic": ["good"]}) as pinned:
        sdk = anthropic.Anthropic(base_url=pinned.url("anthropic"), api_key="bad", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            sdk.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
        sdk.close()


SAMPLING = {"temperature", "top_p", "top_k"}
"""The 2023-06-01 sampling parameters that API version 2026-10-21 (this SDK's) no longer takes."""


def test_sdk_extra_body_gets_anthropic_own_400(emu: ProviderEmulator, client: Any) -> None:
    """An undeclared field via extra_body is Anthropic's 400, as is temperature on 2026-10-21."""
    assert client.default_headers["anthropic-version"] == LATEST_VERSION
    for extra, message in [
        ({"foo": 1}, "foo: Extra inputs are not permitted"),
        ({"temperature": 0.5}, "temperature: Extra inputs are not permitted"),
    ]:
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES, extra_body=extra)
        body = info.value.body
        assert ("error", "invalid_request_error", message) == (
            body["type"],
            body["error"]["type"],
            body["error"]["message"],
        )
        assert body["request_id"] == info.value.request_id


def test_sdk_types_accept_every_body_llmorch_sends(emu: ProviderEmulator) -> None:
    """anthropic's own TypedDicts type llmorch's bodies (2023-06-01's sampling fields aside)."""
    for body in llmorch_bodies(emu, "anthropic", MODEL):
        params = params_types.MessageCreateParamsStreaming
        if not body.get("stream"):
            params = params_types.MessageCreateParamsNonStreaming
        check_body({k: v for k, v in body.items() if k not in SAMPLING}, params)
    assert {"2023-06-01"} == {
        r.headers["anthropic-version"] for r in emu.requests if r.method == "POST"
    }
    claude = "claude-haiku-5-5"  # on Vertex AI: the SDK moves model to the path
    for body in llmorch_bodies(emu, "vertex", claude):
        assert "vertex-2023-10-16" == body.pop("anthropic_version")
        body = {k: v for k, v in body.items() if k not in SAMPLING}
        params = params_types.MessageCreateParamsStreaming
        if not body.get("stream"):
            params = params_types.MessageCreateParamsNonStreaming
        check_body({**body, "model": claude}, params)


def test_emulator_declares_no_field_the_sdk_does_not() -> None:
    """Per API version the emulator's fields are the SDK's: 2023-06-01 only adds sampling."""
    sdk = set(params_types.MessageCreateParamsStreaming.__annotations__)
    assert set(request_schema(LATEST_VERSION).fields) == sdk
    assert set(request_schema("2023-06-01").fields) - sdk == SAMPLING
    content = request_schema(LATEST_VERSION).fields["messages"]
    assert isinstance(content, Arr) and isinstance(content.items, Tagged)
    assert set(content.items.variants) == {"user", "assistant", "system"}
    blocks = content.items.variants["user"].fields["content"]
    assert isinstance(blocks, Either) and isinstance(blocks.options[1], Arr)
    tagged = blocks.options[1].items
    assert isinstance(tagged, Tagged)
    sdk_blocks = {
        typing.get_args(typing_extensions.get_type_hints(b)["type"])[0]: b
        for b in typing.get_args(anthropic_types.ContentBlockParam)
        if typing_extensions.is_typeddict(b)
    }
    assert set(tagged.variants) == set(sdk_blocks)
    for tag, variant in tagged.variants.items():
        assert set(variant.fields) == set(sdk_blocks[tag].__annotations__), tag


WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
PARALLEL = (
    ToolUse("get_weather", {"city": "Paris"}),
    ToolUse("get_weather", {"city": "Lyon, Auvergne-Rhône-Alpes"}),
    ToolUse("get_time"),
)


def results(content: list[Any]) -> list[dict[str, Any]]:
    """One tool_result block per tool_use block, in order."""
    return [
        {"type": "tool_result", "tool_use_id": block.id, "content": f"{block.name} done"}
        for block in content
        if block.type == "tool_use"
    ]


def test_two_turn_tool_loop(emu: ProviderEmulator, client: Any) -> None:
    """Parallel tool_use blocks parse; the results turn is accepted and answered."""
    emu.script("anthropic", MODEL, Reply("Looking.", tool_calls=PARALLEL), Reply("Sunny, noon."))
    first = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER, TIME], messages=MESSAGES
    )
    calls = [b for b in first.content if b.type == "tool_use"]
    assert [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Lyon, Auvergne-Rhône-Alpes"}),
        ("get_time", {}),
    ] == [(c.name, c.input) for c in calls]
    assert "tool_use" == first.stop_reason and len({c.id for c in calls}) == 3
    history = [
        *MESSAGES,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": results(first.content)},
    ]
    final = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER, TIME], messages=history
    )
    assert ("Sunny, noon.", "end_turn") == (final.content[0].text, final.stop_reason)


def test_streamed_tool_loop_with_thinking(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's stream helpers rebuild thinking and every call; signed blocks go back as is."""
    emu.script(
        "anthropic",
        MODEL,
        Reply("", tool_calls=PARALLEL, reasoning="two cities and a clock"),
        Reply("Sunny, noon.", reasoning="all answered"),
    )
    thinking = {"type": "enabled", "budget_tokens": 1024}
    options = {"model": MODEL, "max_tokens": 2000, "tools": [WEATHER, TIME], "thinking": thinking}
    with client.messages.stream(messages=MESSAGES, **options) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_message()
    assert {"thinking", "signature", "input_json"} <= set(kinds)
    assert ["thinking", "tool_use", "tool_use", "tool_use"] == [b.type for b in first.content]
    assert "two cities and a clock" == first.content[0].thinking
    assert [{"city": "Paris"}, {"city": "Lyon, Auvergne-Rhône-Alpes"}, {}] == [
        b.input for b in first.content[1:]
    ]
    history = [
        *MESSAGES,
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": results(first.content)},
    ]
    with client.messages.stream(messages=history, **options) as stream:
        final = stream.get_final_message()
    assert ["thinking", "text"] == [b.type for b in final.content]
    assert "Sunny, noon." == final.content[1].text
    assert final.usage.output_tokens_details.thinking_tokens == 2


def test_invalid_tool_turn_gets_anthropic_400(emu: ProviderEmulator, client: Any) -> None:
    """A tool_result with no tool_use before it, and a modified thinking block, are 400s."""
    orphan = [
        *MESSAGES,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]},
    ]
    with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`") as info:
        client.messages.create(model=MODEL, max_tokens=10, tools=[WEATHER], messages=orphan)
    assert info.value.body["error"]["message"].startswith("messages.0.content.1: ")
    emu.script("anthropic", MODEL, Reply("", tool_calls=PARALLEL[:1], reasoning="plan"))
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(
        model=MODEL, max_tokens=2000, tools=[WEATHER], thinking=thinking, messages=MESSAGES
    )
    altered = [{**first.content[0].model_dump(), "thinking": "plan "}, first.content[1]]
    history = [
        *MESSAGES,
        {"role": "assistant", "content": altered},
        {"role": "user", "content": results(first.content)},
    ]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking`"):
        client.messages.create(
            model=MODEL, max_tokens=2000, tools=[WEATHER], thinking=thinking, messages=history
        )


def check_typed(body: dict[str, Any]) -> None:
    """The SDK's request types accept a body: no undeclared key, every nested block typed."""
    params = params_types.MessageCreateParamsNonStreaming
    if body.get("stream"):
        params = params_types.MessageCreateParamsStreaming
    check_body(body, params)
    # pydantic validates Iterable[...] fields lazily: check content blocks and tools as lists.
    blocks = pydantic.TypeAdapter(list[anthropic_types.ContentBlockParam])
    for message in body["messages"]:
        if isinstance(message["content"], list):
            blocks.validate_python(message["content"])
    pydantic.TypeAdapter(list[anthropic_types.ToolUnionParam]).validate_python(
        body.get("tools", [])
    )


TOOL_TURN = [
    *MESSAGES,
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "1"}]},
]
TOOL = {"name": "f", "input_schema": {"type": "object"}}
TYPED_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"tools": [TOOL], "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}, True),
    ({"tools": [TOOL], "tool_choice": {"type": "tool", "name": "f"}}, True),
    ({"tools": [TOOL], "messages": TOOL_TURN}, True),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000}, True),
    ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, True),
    ({"tools": [TOOL], "tool_choice": {"type": "required"}}, False),
    ({"tools": [TOOL], "tool_choice": {"type": "tool"}}, False),
    ({"tools": [TOOL], "tool_choice": {"type": "none", "disable_parallel_tool_use": True}}, False),
    ({"tools": [{"name": "f"}]}, False),
    ({"tools": [{**TOOL, "parameters": {}}]}, False),
    ({"thinking": {"type": "enabled"}}, False),
    ({"thinking": {"type": "adaptive", "budget_tokens": 2048}}, False),
    ({"output_config": {"effort": "extreme"}}, False),
    (
        {
            "tools": [TOOL],
            "messages": [
                *TOOL_TURN[:2],
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "name": "f"}],
                },
            ],
        },
        False,
    ),
    (
        {
            "messages": [
                *MESSAGES,
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]},
                *MESSAGES,
            ]
        },
        False,
    ),
]


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(24)).decode()
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
EPHEMERAL = {"type": "ephemeral", "ttl": "1h"}
CLOSED = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}


def _user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [*blocks, {"type": "text", "text": "?"}]}]}


def _image(media_type: str = "image/png", **extra: Any) -> dict[str, Any]:
    source = {"type": "base64", "media_type": media_type, "data": PNG}
    return {"type": "image", "source": source, **extra}


PART_CASES: list[tuple[dict[str, Any], bool]] = [
    (_user(_image()), True),
    (_user({"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}), True),
    (
        _user(
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
            }
        ),
        True,
    ),
    (
        _user(
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "x"},
            }
        ),
        True,
    ),
    (_user(_image(cache_control=EPHEMERAL)), True),
    ({"system": [{"type": "text", "text": "s", "cache_control": EPHEMERAL}]}, True),
    ({"tools": [{**TOOL, "cache_control": {"type": "ephemeral"}}]}, True),
    ({"output_config": {"format": {"type": "json_schema", "schema": CLOSED}}}, True),
    (_user(_image("image/bmp")), False),
    (_user({"type": "image", "source": {"type": "base64", "data": PNG}}), False),
    (
        _user(
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "text/csv", "data": PDF},
            }
        ),
        False,
    ),
    (_user(_image(cache_control={"type": "ephemeral", "ttl": "2h"})), False),
    ({"output_config": {"format": {"type": "json_object"}}}, False),
    ({"output_config": {"format": {"type": "json_schema"}}}, False),
]


@pytest.mark.parametrize(("extra", "accepted"), TYPED_CASES + PART_CASES)
def test_emulator_refuses_bodies_the_sdk_types_refuse(
    emu: ProviderEmulator, extra: dict[str, Any], accepted: bool
) -> None:
    """For tool, part, cache and output bodies the SDK's TypedDicts and the emulator agree."""
    body = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES, **extra}
    try:
        check_typed(body)
        typed = True
    except (AssertionError, pydantic.ValidationError):
        typed = False
    headers = {"x-api-key": "k", "anthropic-version": LATEST_VERSION}
    response = httpx.post(emu.url("anthropic") + "/v1/messages", json=body, headers=headers)
    assert (accepted, accepted) == (typed, response.status_code == 200), response.text


def test_claude_on_vertex_tool_loop(emu: ProviderEmulator) -> None:
    """AnthropicVertex streams parallel calls (toolu_vrtx_ ids) and sends thinking back."""
    service_account = pytest.importorskip("google.oauth2.service_account")
    from google.auth.transport.requests import Request

    config = emu.config_for("vertex")
    credentials = service_account.Credentials.from_service_account_file(
        config["credentials_path"], scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(Request())
    claude = "claude-haiku-5-5"
    emu.script(
        "vertex",
        claude,
        Reply("", tool_calls=PARALLEL[:2], reasoning="two cities"),
        Reply("Both sunny."),
    )
    thinking = {"type": "enabled", "budget_tokens": 1024}
    options = {"model": claude, "max_tokens": 2000, "tools": [WEATHER], "thinking": thinking}
    with anthropic.AnthropicVertex(
        project_id=config["project_id"],
        region=config["location"],
        access_token=credentials.token,
        base_url=config["base_url"] + "/v1",
        max_retries=0,
    ) as client:
        with client.messages.stream(messages=MESSAGES, **options) as stream:
            first = stream.get_final_message()
        calls = [b for b in first.content if b.type == "tool_use"]
        assert all(c.id.startswith("toolu_vrtx_01") for c in calls) and len(calls) == 2
        history = [
            *MESSAGES,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": results(first.content)},
        ]
        final = client.messages.create(messages=history, **options)
    assert "Both sunny." == final.content[-1].text


def test_llmorch_tool_bodies_are_typed_by_the_sdk(emu: ProviderEmulator) -> None:
    """The bodies llmorch builds for tools, choices, results and thinking round trips type."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, Tool

    weather = Tool("get_weather", "The weather", WEATHER["input_schema"], strict=True)
    emu.script(
        "anthropic",
        MODEL,
        Reply("", tool_calls=PARALLEL[:2], reasoning="plan"),
        Reply("Sunny.", reasoning="done"),
        Reply("", tool_calls=PARALLEL[:1]),
        "ok",
        "ok",
    )

    async def loop() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "anthropic",
                "active_model": MODEL,
                "providers": {"anthropic": emu.config_for("anthropic") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"enabled": False},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            first = await orch.send_request(MESSAGES, tools=[weather], reasoning="high")
            turns = [
                *MESSAGES,
                first.message,
                *(
                    {"role": "tool", "tool_call_id": c.id, "content": "sunny"}
                    for c in first.tool_calls
                ),
            ]
            await orch.send_request(turns, tools=[weather], reasoning={"budget_tokens": 2048})
            stream = orch.send_streaming_request(
                MESSAGES, tools=[weather], tool_choice="get_weather", parallel_tool_calls=False
            )
            async for _ in stream:
                pass
            await orch.send_request(MESSAGES, tools=[weather], tool_choice="none")
            await orch.send_request(MESSAGES, tools=[weather], reasoning="none")

    import anyio

    anyio.run(loop)
    bodies = [r.body for r in emu.requests if r.method == "POST"]
    assert 5 == len(bodies)
    assert {"thinking", "tool_use"} <= {
        b["type"]
        for m in bodies[1]["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
    }
    for body in bodies:
        check_typed(body)


def test_sdk_image_and_document_parts_are_answered(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's image (base64, URL) and document blocks, cache-marked, get an answer."""
    emu.script("anthropic", MODEL, Reply("a tiny png"))
    content = [
        _image(cache_control={"type": "ephemeral"}),
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        },
        {"type": "text", "text": "what are these?"},
    ]
    message = client.messages.create(
        model=MODEL, max_tokens=50, messages=[{"role": "user", "content": content}]
    )
    assert ("a tiny png", "end_turn") == (message.content[0].text, message.stop_reason)
    with pytest.raises(anthropic.BadRequestError, match="does not match the provided media type"):
        client.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": [_image("image/gif")]}],
        )


def test_claude_on_vertex_refuses_url_sources_and_sampling(emu: ProviderEmulator) -> None:
    """AnthropicVertex: base64 images answered, URL sources 400; Claude 5 refuses temperature."""
    service_account = pytest.importorskip("google.oauth2.service_account")
    from google.auth.transport.requests import Request

    config = emu.config_for("vertex")
    credentials = service_account.Credentials.from_service_account_file(
        config["credentials_path"], scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(Request())
    claude = "claude-haiku-5-5"
    emu.script("vertex", claude, Reply("a png"))
    url = {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}}
    with anthropic.AnthropicVertex(
        project_id=config["project_id"],
        region=config["location"],
        access_token=credentials.token,
        base_url=config["base_url"] + "/v1",
        max_retries=0,
    ) as client:
        ok = client.messages.create(
            model=claude, max_tokens=20, messages=[{"role": "user", "content": [_image()]}]
        )
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(
                model=claude, max_tokens=20, messages=[{"role": "user", "content": [url]}]
            )
    assert "a png" == ok.content[0].text
    assert (
        "messages.0.content.0.image.source.base64.data: URL sources are not supported"
        == info.value.body["error"]["message"]
    )
    # The 2023-10-16 body (llmorch's) declares temperature; Claude 5 refuses it all the same.
    path = (
        f"/v1/projects/{config['project_id']}/locations/{config['location']}"
        f"/publishers/anthropic/models/{claude}:rawPredict"
    )
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 20, "messages": MESSAGES}
    response = httpx.post(
        config["base_url"] + path,
        json={**body, "temperature": 0.5},
        headers={"authorization": f"Bearer {credentials.token}"},
    )
    assert 400 == response.status_code
    assert "`temperature` is deprecated for this model." == response.json()["error"]["message"]
    # Vertex AI lists structured output from the 4.6 models on: a 4.5 model refuses the field.
    older = "claude-sonnet-4-5@20250929"
    emu.script("vertex", older, Reply("{}"))
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    response = httpx.post(
        config["base_url"] + path.replace(claude, older),
        json={**body, "output_config": {"format": {"type": "json_schema", "schema": schema}}},
        headers={"authorization": f"Bearer {credentials.token}"},
    )
    assert (
        "output_config.format: Extra inputs are not permitted"
        == response.json()["error"]["message"]
    )


class Order(pydantic.BaseModel):
    product_name: str
    quantity: int
    price: float = pydantic.Field(ge=0)


class Orders(pydantic.BaseModel):
    orders: list[Order]


def test_sdk_parse_and_output_config_get_schema_valid_json(
    emu: ProviderEmulator, client: Any
) -> None:
    """messages.parse (a pydantic type), output_config and a streamed parse all fit the schema."""
    parsed = client.messages.parse(
        model=MODEL, max_tokens=200, messages=MESSAGES, output_format=Orders
    )
    assert isinstance(parsed.parsed_output, Orders) and parsed.parsed_output.orders
    schema = {"type": "array", "items": {"type": "integer"}}
    raw = client.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=MESSAGES,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert all(isinstance(n, int) for n in json.loads(raw.content[0].text))
    with client.messages.stream(
        model=MODEL, max_tokens=200, messages=MESSAGES, output_format=Orders
    ) as stream:
        final = stream.get_final_message()
    assert isinstance(final.parsed_output, Orders)
    sent = [r.body["output_config"]["format"]["schema"] for r in emu.requests if r.body]
    assert schema in sent and all(s.get("additionalProperties") is False for s in sent[::2])


def test_llmorch_output_and_part_bodies_are_typed_by_the_sdk(emu: ProviderEmulator) -> None:
    """llmorch's bodies for response_format, images, documents and cache marks type-check."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, Tool, document, image

    png = base64.b64decode(PNG)
    cached = {"type": "ephemeral"}
    parts = [
        {**image(png), "cache_control": cached},
        image("https://x.test/cat.png"),
        document(base64.b64decode(PDF), filename="a.pdf"),
        document(b"plain notes", filename="notes.txt"),
        {"type": "text", "text": "what are these?"},
    ]
    turns = [
        {
            "role": "system",
            "content": "be brief",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
        {"role": "user", "content": parts},
    ]
    tool = Tool("f", "F", {"type": "object", "properties": {}}, cache=None)

    async def calls() -> None:
        config = OrchestratorConfig.from_dict(
            {
                "active_provider": "anthropic",
                "active_model": MODEL,
                "providers": {"anthropic": emu.config_for("anthropic") | {"fallback_models": []}},
                "model_discovery": {"refresh_on_start": False, "cache_path": None},
                "cost_tracking": {"enabled": False},
            }
        )
        async with AsyncLLMOrchestrator(config) as orch:
            answer = await orch.send_request(turns, response_format=Orders, tools=[tool])
            assert isinstance(answer.parsed, Orders)
            listed = await orch.send_request(MESSAGES, response_format=list[int])
            assert all(isinstance(n, int) for n in listed.parsed)
            # JSON mode is an instruction: the emulator's model is scripted to follow it.
            emu.script("anthropic", MODEL, Reply('{"a": 1}'))
            free = await orch.send_request(MESSAGES, response_format={"type": "json_object"})
            assert {"a": 1} == free.parsed
            stream = orch.send_streaming_request(
                turns, response_format=Orders, reasoning="low", temperature=0.3
            )
            async for _ in stream:
                pass
            assert isinstance(stream.response.parsed, Orders)
            assert any("temperature" in w for w in stream.response.warnings)

    import anyio

    anyio.run(calls)
    bodies = [r.body for r in emu.requests if r.method == "POST"]
    assert 4 == len(bodies)
    for body in bodies:
        check_typed(body)
    assert {"image", "document", "text"} <= {b["type"] for b in bodies[0]["messages"][0]["content"]}
    assert "temperature" not in bodies[3] and "format" in bodies[3]["output_config"]
