"""One call: its arguments into a typed request, and its answer settled against that request."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from llmorch._options import check_options
from llmorch.exceptions import InvalidRequestError
from llmorch.messages import ChatMessage
from llmorch.output import validate_output_retries, validate_response_format
from llmorch.request import NO_OPTIONS, ChatRequest, validate_reasoning, validate_sampling
from llmorch.tools import generated_id, validate_tool_choice, validate_tools
from llmorch.types import LLMResponse

__all__ = ["full_request", "given", "settle"]

logger = logging.getLogger("llmorch")


def given(**arguments: Any) -> dict[str, Any]:
    """The call's arguments that were given (not ``None``).

    Args:
        **arguments: The call's keyword arguments.

    Returns:
        Only those that are set (empty for a plain call: the fast path).
    """
    return {key: value for key, value in arguments.items() if value is not None}


def full_request(
    messages: tuple[ChatMessage, ...], owned: frozenset[str], call: Mapping[str, Any]
) -> ChatRequest:
    """Validate a call's arguments and build its request (before any network call).

    Args:
        messages: The validated messages.
        owned: The body fields the provider's adapter builds (refused in ``extra_body``).
        call: The arguments that were given.

    Returns:
        The typed request (``model`` is set per attempt).

    Raises:
        InvalidRequestError: An argument of the wrong type or value, a tool choice or parallel
            switch without tools, or a malformed option.
    """
    temperature, max_tokens, top_p, top_k, stop, seed = validate_sampling(
        call.get("temperature"),
        call.get("max_tokens"),
        call.get("top_p"),
        call.get("top_k"),
        call.get("stop"),
        call.get("seed"),
    )
    tools = validate_tools(call.get("tools"))
    choice = validate_tool_choice(call.get("tool_choice"), tools)
    parallel = call.get("parallel_tool_calls")
    if parallel is not None:
        if not isinstance(parallel, bool):
            raise InvalidRequestError("parallel_tool_calls must be a bool or None")
        if not tools:
            raise InvalidRequestError("parallel_tool_calls is set but tools= is empty")
    if call.get("output_retries") and call.get("response_format") is None:
        raise InvalidRequestError("output_retries is set but response_format is not")
    options = NO_OPTIONS
    if "timeout" in call or "extra_body" in call or "extra_headers" in call:
        options = check_options(
            owned=owned,
            timeout=call.get("timeout"),
            extra_body=call.get("extra_body"),
            extra_headers=call.get("extra_headers"),
        )
    return ChatRequest(
        messages,
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=top_p,
        top_k=top_k,
        stop=stop,
        seed=seed,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        reasoning=validate_reasoning(call.get("reasoning")),
        options=options,
        response_format=validate_response_format(call.get("response_format")),
        output_retries=validate_output_retries(call.get("output_retries")),
    )


def settle(response: LLMResponse, request: ChatRequest, provider_type: str) -> None:
    """Make an answer with tool calls or reasoning consistent on every provider.

    The finish reason is ``tool_calls`` when calls were made (Gemini reports STOP); a call id
    that repeats one of the history (or of the same answer) is replaced by a generated one, so
    ids stay unique; reasoning state is stamped with the provider type and model it came from.

    Args:
        response: The adapter's answer (changed in place).
        request: The request it answers.
        provider_type: The answering provider's type.
    """
    if response.tool_calls:
        if response.finish_reason in ("stop", None):
            response.finish_reason = "tool_calls"
        seen = {call.id for message in request.messages for call in message.tool_calls}
        calls = []
        for call in response.tool_calls:
            if call.id in seen:
                fresh = generated_id()
                logger.debug("tool call id %s repeats the history; using %s", call.id, fresh)
                renamed = {call.id: fresh}
                call = dataclasses.replace(call, id=fresh)
                response.reasoning_items = [
                    dataclasses.replace(item, tool_call_id=renamed[item.tool_call_id])
                    if item.tool_call_id in renamed
                    else item
                    for item in response.reasoning_items
                ]
            seen.add(call.id)
            calls.append(call)
        response.tool_calls = calls
    if response.reasoning_items:
        response.provider_type = provider_type
        response.reasoning_items = [
            item
            if item.provider_type
            else dataclasses.replace(item, provider_type=provider_type, model=response.model)
            for item in response.reasoning_items
        ]
