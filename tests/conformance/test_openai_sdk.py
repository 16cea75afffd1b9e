"""The official openai SDK parses everything the emulator's OpenAI dialect serves."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import pytest
import typing_extensions

from llmorch.testing import Fault, ProviderEmulator, Reply
from llmorch.testing._openai_schema import CHAT_REQUEST
from llmorch.testing._strict import Arr, Tagged
from tests.conformance._bodies import llmorch_bodies
from tests.conformance._typed import check_body

openai = pytest.importorskip("openai")
chat_types = pytest.importorskip("openai.types.chat")
params_types = pytest.importorskip("openai.types.chat.completion_create_params")

MODEL = "gpt-5.4-mini"  # the emulator's default model
MESSAGES: list[Any] = [{"role": "user", "content": "one two three"}]


@pytest.fixture
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: ProviderEmulator) -> Iterator[Any]:
    with openai.OpenAI(base_url=emu.url("openai"), api_key="sk-emu", max_retries=0) as sdk:
        yield sdk


def test_chat_completion(emu: ProviderEmulator, client: Any) -> None:
    """A completion parses into typed objects with the text, finish reason and usage meant."""
    emu.script("openai", MODEL, Reply("alpha beta gamma"))
    completion = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "alpha beta gamma" == completion.choices[0].message.content
    assert "stop" == completion.choices[0].finish_reason
    assert (3, 3, 6) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    )
    assert MODEL == completion.model


def test_length_finish(emu: ProviderEmulator, client: Any) -> None:
    """max_completion_tokens truncates and the SDK reads finish_reason length."""
    emu.script("openai", MODEL, "a b c d")
    completion = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=2
    )
    assert ("a b", "length") == (
        completion.choices[0].message.content,
        completion.choices[0].finish_reason,
    )


def test_streaming_with_usage(emu: ProviderEmulator, client: Any) -> None:
    """The SSE stream parses chunk by chunk, with the usage chunk when include_usage is on."""
    emu.script("openai", MODEL, "delta epsilon zeta")
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert "delta epsilon zeta" == text
    assert ["stop"] == finish
    assert [] == chunks[-1].choices
    assert (3, 3) == (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens)


def test_streaming_without_usage_sends_no_usage_chunk(emu: ProviderEmulator, client: Any) -> None:
    """Without include_usage there is no usage chunk, as with the real API."""
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    assert all(c.choices and c.usage is None for c in stream)


def test_stream_helper_accumulates(emu: ProviderEmulator, client: Any) -> None:
    """The SDK's own stream accumulator builds the final completion from the emulator's chunks."""
    emu.script("openai", MODEL, "one more time")
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert "one more time" == final.choices[0].message.content
    assert 3 == final.usage.completion_tokens


def test_model_listing(emu: ProviderEmulator, client: Any) -> None:
    """The model list parses as Model objects."""
    ids = [m.id for m in client.models.list()]
    assert emu.models("openai") == ids


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        (Fault.http(400), "BadRequestError", 400),
        (Fault.http(400, error="context_length"), "BadRequestError", 400),
        (Fault.http(401), "AuthenticationError", 401),
        (Fault.http(403), "PermissionDeniedError", 403),
        (Fault.http(404), "NotFoundError", 404),
        (Fault.rate_limit(3), "RateLimitError", 429),
        (Fault.http(429, error="quota"), "RateLimitError", 429),
        (Fault.http(500), "InternalServerError", 500),
        (Fault.overloaded(), "InternalServerError", 503),
    ],
)
def test_scripted_errors(
    emu: ProviderEmulator, client: Any, fault: Fault, error: str, status: int
) -> None:
    """Each scripted error raises the SDK's matching class with status, body and request id."""
    emu.script("openai", MODEL, fault)
    with pytest.raises(getattr(openai, error)) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert status == info.value.status_code
    assert info.value.request_id and info.value.request_id.startswith("req_")
    assert isinstance(info.value.body, dict) and info.value.message
    if fault.retry_after is not None:
        assert "3" == info.value.response.headers["retry-after"]


def test_in_stream_error_raises_api_error(emu: ProviderEmulator, client: Any) -> None:
    """An error object inside the stream raises the SDK's APIError after the first chunks."""
    emu.script("openai", MODEL, Fault.stream_error(after=1, error="server_error"))
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)


def test_wrong_key_is_401() -> None:
    """With pinned keys, a wrong key gets the vendor's 401."""
    with ProviderEmulator(api_keys={"openai": ["good"]}) as pinned:
        with openai.OpenAI(base_url=pinned.url("openai"), api_key="bad", max_retries=0) as sdk:
            with pytest.raises(openai.AuthenticationError, match="Incorrect API key"):
                sdk.chat.completions.create(model=MODEL, messages=MESSAGES)


def test_sdk_extra_body_gets_openai_own_400(emu: ProviderEmulator, client: Any) -> None:
    """A field OpenAI does not define, sent through the SDK's extra_body, is OpenAI's 400."""
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, extra_body={"foo": 1})
    assert {
        "message": "Unrecognized request argument supplied: foo",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    } == info.value.body
    with pytest.raises(openai.BadRequestError, match="expected a decimal") as info:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature="hot")
    assert ("temperature", "invalid_type") == (info.value.param, info.value.code)


def test_sdk_types_accept_every_body_llmorch_sends(emu: ProviderEmulator) -> None:
    """openai-python's own request TypedDicts type llmorch's bodies, with no undeclared key."""
    for body in llmorch_bodies(emu, "openai", MODEL):
        params = params_types.CompletionCreateParamsStreaming
        if not body.get("stream"):
            params = params_types.CompletionCreateParamsNonStreaming
        check_body(body, params)


def test_emulator_declares_no_field_the_sdk_does_not() -> None:
    """The emulator is not looser than the SDK: its top-level and message fields are the SDK's."""
    assert set(CHAT_REQUEST.fields) == set(
        params_types.CompletionCreateParamsStreaming.__annotations__
    )
    by_role = {
        typing.get_args(typing_extensions.get_type_hints(t)["role"])[0]: t
        for t in typing.get_args(chat_types.ChatCompletionMessageParam)
    }
    messages = CHAT_REQUEST.fields["messages"]
    assert isinstance(messages, Arr) and isinstance(messages.items, Tagged)
    assert set(messages.items.variants) == set(by_role)
    for role, variant in messages.items.variants.items():
        assert set(variant.fields) == set(by_role[role].__annotations__), role
