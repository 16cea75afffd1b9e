"""Fitting a request to one model: what it accepts, never dropped silently (SPEC §2.10).

Per attempt, before the codec: parameters the capability table (or an earlier 400 from the
vendor, :func:`llmorch.capabilities.learned`) says the model refuses are handled by the
provider's ``unsupported`` policy — ``warn`` removes them, lists them in ``response.warnings`` and
logs one WARNING per model and parameter; ``drop`` removes and lists them without logging;
``error`` raises :class:`~llmorch.exceptions.InvalidRequestError` before any call. Images and
documents the model or vendor cannot take are refused with the path of the part, and
``response_format`` gets its per-model plan (:func:`llmorch.output.plan_output`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

from llmorch.capabilities import Capabilities, capabilities, learned
from llmorch.exceptions import InvalidRequestError
from llmorch.messages import ChatMessage
from llmorch.output import plan_output, with_output_tool
from llmorch.parts import DocumentPart, ImagePart, TextPart
from llmorch.request import ChatRequest

__all__ = ["Policy", "fit", "plain"]

logger = logging.getLogger("llmorch")

Policy = Literal["warn", "error", "drop"]
PARAMETERS = ("temperature", "top_p", "top_k", "seed", "stop")
"""The parameters the table (and the learned facts) can say a model refuses."""

_warned: set[tuple[str, str, str]] = set()


def _plain_messages(messages: tuple[ChatMessage, ...]) -> bool:
    for message in messages:
        for part in message.parts:
            if type(part) is not TextPart or part.cache is not None:
                return False
    return True


def plain(request: ChatRequest) -> bool:
    """Whether nothing in a request depends on what the model accepts.

    Args:
        request: The request.

    Returns:
        True when it sets no refusable parameter, no ``response_format``, no media and no
        cache breakpoints (the common call: :func:`fit` returns it as is).
    """
    return (
        request.temperature is None
        and request.top_p is None
        and request.top_k is None
        and request.seed is None
        and request.stop is None
        and request.response_format is None
        and not any(tool.cache is not None for tool in request.tools)
        and _plain_messages(request.messages)
    )


def _size(count: int) -> str:
    return f"{count / 1_048_576:.2f} MiB" if count >= 1_048_576 else f"{count:,} bytes"


def _check_media(request: ChatRequest, caps: Capabilities, provider_type: str) -> None:
    model = request.model
    for i, message in enumerate(request.messages):
        for j, part in enumerate(message.parts):
            if type(part) is TextPart:
                continue
            where = f"messages[{i}].content[{j}]"
            if message.role == "tool" and caps.tool_result_media is False:
                raise InvalidRequestError(
                    f"{where}: {provider_type} model {model!r} takes only text in tool results"
                )
            if isinstance(part, ImagePart):
                _check_image(part, caps, provider_type, model, f"{where}.image_url")
            elif isinstance(part, DocumentPart):
                _check_document(part, caps, provider_type, model, f"{where}.file")


def _check_image(
    part: ImagePart, caps: Capabilities, provider_type: str, model: str, where: str
) -> None:
    if caps.image_input is False:
        raise InvalidRequestError(f"{where}: {provider_type} model {model!r} takes no images")
    if part.data is None and caps.image_urls is False:
        raise InvalidRequestError(
            f"{where}.url: {provider_type} does not fetch image URLs (and llmorch never "
            "downloads one): pass the image's bytes, e.g. llmorch.image(path_or_bytes)"
        )
    known_type = part.data is not None or part.media_type  # a URL's type, when its path tells
    if known_type and caps.image_types is not None and part.media_type not in caps.image_types:
        raise InvalidRequestError(
            f"{where}.url: {provider_type} does not take {part.media_type} images "
            f"(it takes {', '.join(caps.image_types)})"
        )
    if part.data is not None and caps.max_image_bytes and len(part.data) > caps.max_image_bytes:
        raise InvalidRequestError(
            f"{where}.url: the image is {_size(len(part.data))}; {provider_type} takes at most "
            f"{_size(caps.max_image_bytes)} per image"
        )


def _check_document(
    part: DocumentPart, caps: Capabilities, provider_type: str, model: str, where: str
) -> None:
    if caps.document_input is False:
        raise InvalidRequestError(f"{where}: {provider_type} model {model!r} takes no documents")
    if caps.document_types is not None and part.media_type not in caps.document_types:
        raise InvalidRequestError(
            f"{where}.file_data: {provider_type} does not take {part.media_type} documents "
            f"(it takes {', '.join(caps.document_types)})"
        )
    if caps.max_document_bytes is not None and len(part.data) > caps.max_document_bytes:
        raise InvalidRequestError(
            f"{where}.file_data: the document is {_size(len(part.data))}; {provider_type} takes "
            f"at most {_size(caps.max_document_bytes)} per document"
        )


def _has_cache(request: ChatRequest) -> bool:
    return any(tool.cache is not None for tool in request.tools) or any(
        part.cache is not None for message in request.messages for part in message.parts
    )


def _unsupported(
    what: str, why: str, request: ChatRequest, provider_type: str, policy: Policy
) -> str:
    """Apply the policy to one thing the model does not take; the warning text to keep."""
    model = request.model
    if policy == "error":
        raise InvalidRequestError(
            f"{what}: {provider_type} model {model!r} does not accept it ({why}); leave it out, "
            "or set unsupported: warn on the provider to have llmorch remove it"
        )
    warning = f"{what} removed: {provider_type} model {model!r} does not accept it ({why})"
    if policy == "warn":
        key = (provider_type, model, what)
        if key not in _warned:
            _warned.add(key)
            logger.warning("%s", warning)
    return warning


def fit(request: ChatRequest, provider_type: str, policy: Policy = "warn") -> ChatRequest:
    """Fit a request to its model (``request.model``) before the codec encodes it.

    Args:
        request: The call's request, for one model of the chain.
        provider_type: The provider type of the attempt.
        policy: The provider's ``unsupported`` setting.

    Returns:
        The request to send: unchanged for a plain call; otherwise without what the model
        refuses (listed in ``warnings``), with ``output`` planned and, for a model without
        native structured output, the forced output tool.

    Raises:
        InvalidRequestError: Policy ``error`` and a refused parameter; an image or document the
            model or vendor cannot take (a URL where the vendor takes only bytes, a media type
            it does not read, a file over its size limit), naming the part's path.
    """
    known = learned(provider_type, request.model)
    if not known and plain(request):
        return request
    caps = capabilities(provider_type, request.model)
    changes: dict[str, Any] = {}
    warnings = list(request.warnings)
    for name in PARAMETERS:
        value = getattr(request, name)
        if value is None:
            continue
        if name in known:
            why = "the vendor refused it earlier in this process"
        elif name in caps.rejects:
            why = "the capability table says so"
        elif name in caps.only_default and value != caps.only_default[name]:
            why = f"it takes only {name}={caps.only_default[name]:g}"
        else:
            continue
        warnings.append(_unsupported(name, why, request, provider_type, policy))
        changes[name] = None
    _check_media(request, caps, provider_type)
    if caps.prompt_caching in ("implicit", "none") and _has_cache(request):
        why = (
            f"{provider_type} caches prompts by itself, without breakpoints"
            if caps.prompt_caching == "implicit"
            else "the model has no prompt cache"
        )
        warnings.append(_unsupported("cache_control", why, request, provider_type, policy))
    fmt = request.response_format
    if fmt is not None:
        plan = plan_output(fmt, provider_type, request.model)
        changes["output"] = plan
        if plan.mode == "tool":
            forced_ok = caps.forced_tool_choice is not False and not (
                request.reasoning_on and caps.forced_tool_choice_with_reasoning is False
            )
            tools, choice = with_output_tool(
                plan, request.tools, request.tool_choice, forced_ok=forced_ok
            )
            changes["tools"], changes["tool_choice"] = tools, choice
    if len(warnings) != len(request.warnings):
        changes["warnings"] = tuple(warnings)
    return dataclasses.replace(request, **changes) if changes else request
