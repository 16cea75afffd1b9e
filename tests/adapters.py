"""Call an adapter directly with the arguments of a call, as the orchestrator would build them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llmorch._call import full_request, given
from llmorch.messages import validate_messages
from llmorch.providers.base import BaseLLMProvider
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, StreamEvent

CALL_ARGUMENTS = frozenset(
    "top_p top_k stop seed tools tool_choice parallel_tool_calls reasoning timeout extra_body "
    "extra_headers response_format output_retries".split()
)


def typed(
    messages: Any,
    model: str,
    temperature: float | None = None,
    max_tokens: int | None = None,
    **call: Any,
) -> ChatRequest:
    """The typed request for these call arguments (validated like the orchestrator's).

    Keywords that are not call arguments are vendor fields: they go into ``extra_body``.
    """
    vendor = {k: call.pop(k) for k in list(call) if k not in CALL_ARGUMENTS}
    if vendor:
        call["extra_body"] = {**vendor, **call.get("extra_body", {})}
    arguments = given(temperature=temperature, max_tokens=max_tokens, **call)
    return full_request(validate_messages(messages), frozenset(), arguments).with_model(model)


async def send(
    adapter: BaseLLMProvider, messages: Any, model: str, *a: Any, **k: Any
) -> LLMResponse:
    """``adapter.send_request`` for these call arguments."""
    return await adapter.send_request(typed(messages, model, *a, **k))


def stream(
    adapter: BaseLLMProvider, messages: Any, model: str, *a: Any, **k: Any
) -> AsyncIterator[StreamEvent]:
    """``adapter.send_streaming_request`` for these call arguments."""
    return adapter.send_streaming_request(typed(messages, model, *a, **k))
