"""The official anthropic SDK parses everything the emulator's Anthropic dialect serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmorch.testing import Fault, ProviderEmulator, Reply

anthropic = pytest.importorskip("anthropic")

MODEL = "claude-haiku-4-5"
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
