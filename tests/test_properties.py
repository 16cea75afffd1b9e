"""Bad input never escapes as a foreign exception or a hang (hypothesis, bounded in CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmorch import ConfigManager, ConfigurationError, InvalidRequestError, OrchestratorConfig
from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.config import AnthropicConfig, OpenAIConfig
from llmorch.exceptions import ProviderError
from llmorch.messages import ChatMessage, validate_messages
from llmorch.providers.anthropic import AnthropicProvider, MessageStreamParser
from llmorch.providers.openai import ChunkParser, OpenAIProvider

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=5))
def test_sse_decoder_takes_any_bytes_at_any_split(data: bytes, cuts: list[int]) -> None:
    """Any bytes, split anywhere, decode to the same events as one feed, and never raise."""
    whole = SSEDecoder()
    expected = whole.feed(data) + whole.flush()
    decoder = SSEDecoder()
    got = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        got += decoder.feed(data[start:cut])
        start = cut
    assert expected == got + decoder.flush()


PARSERS = [
    (OpenAIProvider, OpenAIConfig, ChunkParser),
    (AnthropicProvider, AnthropicConfig, MessageStreamParser),
]


@SETTINGS
@given(
    st.sampled_from(PARSERS),
    st.one_of(st.text(max_size=200), json_values.map(json.dumps)),
    st.sampled_from([None, "message_start", "message_delta", "content_block_delta", "error"]),
)
def test_stream_parsers_return_events_or_a_provider_error(
    parser: tuple[Any, Any, Any], data: str, event: str | None
) -> None:
    """Any event payload parses to events or raises an llmorch ProviderError — nothing else."""
    adapter_cls, config_cls, parser_cls = parser
    adapter = adapter_cls("p", config_cls(api_key="k"), None)  # parsers never touch HTTP
    try:
        events = parser_cls(adapter, "m", None)(ServerSentEvent(data=data, event=event))
    except ProviderError:
        return
    assert isinstance(events, list)


@SETTINGS
@given(json_values)
def test_message_validation_accepts_or_names_the_problem(messages: Any) -> None:
    """Any object is either valid messages or an InvalidRequestError."""
    try:
        checked = validate_messages(messages)
    except InvalidRequestError as exc:
        assert str(exc)
        return
    assert checked and all(isinstance(m, ChatMessage) for m in checked)


config_keys = st.sampled_from(
    ["active_provider", "active_model", "providers", "cost_tracking", "pricing", "model_discovery",
     "http_transport", "openai", "anthropic", "api_key", "base_url", "timeout", "type",
     "fallback_models", "max_retries", "log_path", "enabled", "input", "output"]
)  # fmt: skip
config_values = st.recursive(
    json_scalars | st.sampled_from(["openai", "anthropic", "${NOPE}", "${X:-y}", "http://h"]),
    lambda inner: st.dictionaries(config_keys, inner, max_size=5) | st.lists(inner, max_size=3),
    max_leaves=15,
)


@SETTINGS
@given(st.dictionaries(config_keys, config_values, max_size=7))
def test_config_from_any_mapping_is_valid_or_a_configuration_error(data: dict[str, Any]) -> None:
    """Any mapping loads or raises ConfigurationError (never a pydantic or foreign error)."""
    try:
        config = OrchestratorConfig.from_dict(data, source="fuzz.yaml")
    except ConfigurationError as exc:
        assert str(exc).startswith("fuzz.yaml")
        return
    assert config.active_provider in config.providers


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300))
def test_config_file_with_any_text_loads_or_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    """Any file content loads or raises ConfigurationError naming the file."""
    path: Path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        ConfigManager.load_config(path)
    except ConfigurationError as exc:
        assert "config.yaml" in str(exc)


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=4))
def test_bedrock_event_stream_takes_any_bytes(data: bytes, cuts: list[int]) -> None:
    """Any bytes, split anywhere, decode to events or raise an llmorch ProviderError."""
    import anyio

    from llmorch.config import BedrockConfig
    from llmorch.providers.bedrock import BedrockProvider, decode_event_stream

    adapter = BedrockProvider("bedrock", BedrockConfig(region_name="us-east-1"), None)

    async def chunks() -> Any:
        start = 0
        for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
            yield data[start:cut]
            start = cut

    async def run() -> None:
        try:
            async for event in decode_event_stream(chunks(), adapter, "m", None):
                assert event.kind in ("text", "usage", "finish", "start")
        except ProviderError:
            pass

    anyio.run(run)


@SETTINGS
@given(st.binary(min_size=16, max_size=64), st.integers(0, 15))
def test_bedrock_event_stream_flipped_bytes_in_a_valid_frame(noise: bytes, where: int) -> None:
    """A valid frame with corrupted bytes never escapes as a botocore or struct error."""
    import anyio

    from llmorch.config import BedrockConfig
    from llmorch.providers.bedrock import BedrockProvider, decode_event_stream
    from tests.conftest import fixture_bytes

    frame = bytearray(fixture_bytes("bedrock_converse_stream_basic.bin")[:200])
    frame[where : where + len(noise)] = noise
    adapter = BedrockProvider("bedrock", BedrockConfig(region_name="us-east-1"), None)

    async def chunks() -> Any:
        yield bytes(frame)

    async def run() -> None:
        try:
            async for _ in decode_event_stream(chunks(), adapter, "m", None):
                pass
        except ProviderError:
            pass

    anyio.run(run)
