"""The Bedrock Converse codec, sans I/O: request bodies, answers and event streams.

Pure functions (and one incremental stream decoder) from llmorch's typed request to the
Converse body and from Bedrock's answers back to llmorch types; ``bedrock.py`` only signs,
sends and reads. Parts, cache points and the output format are built by
:mod:`llmorch.providers._converse_content`, errors read by
:mod:`llmorch.providers._converse_errors`. Wire facts and their sources:
``docs/wire/bedrock.md``.

Model families matter on Bedrock: reasoning is switched on through
``additionalModelRequestFields`` in each family's own format (Claude ``thinking``, Nova
``reasoningConfig``, gpt-oss ``reasoning_effort``), and reasoning state only goes back to the
family that made it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmorch.capabilities import capabilities
from llmorch.exceptions import (
    InvalidRequestError,
)
from llmorch.messages import ChatMessage, ReasoningItem
from llmorch.parts import Part, TextPart
from llmorch.providers._converse_content import (
    DocumentNames,
    cache_point,
    check_cache_order,
    json_object_instruction,
    output_config,
    part_block,
)
from llmorch.request import ChatRequest
from llmorch.tools import Tool, ToolCall, parse_arguments
from llmorch.types import StreamEvent, normalize_tokens

if TYPE_CHECKING:
    from botocore.eventstream import EventStreamMessage

__all__ = [
    "ConverseStreamDecoder",
    "decode_response",
    "encode_request",
    "family",
    "same_family",
    "usage_tokens",
]

logger = logging.getLogger("llmorch")

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
"""Converse ``stopReason`` -> llmorch's finish reason (anything else is ``other``)."""

# -- model families ------------------------------------------------------------------------

_ARN = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:[a-z-]+/")
_GEO = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.")
_FAMILIES = (("anthropic.", "claude"), ("amazon.nova", "nova"), ("openai.gpt-oss", "gpt-oss"))


def _bare(model: str) -> str:
    return _GEO.sub("", _ARN.sub("", model))


def family(model: str) -> str:
    """The model family of a Bedrock model id, inference profile id or ARN.

    Args:
        model: The model identifier.

    Returns:
        ``claude``, ``nova`` or ``gpt-oss``; for any other model its vendor namespace (the id's
        first dotted segment, e.g. ``moonshot``), after an optional geography prefix.
    """
    bare = _bare(model)
    for prefix, name in _FAMILIES:
        if bare.startswith(prefix):
            return name
    return bare.split(".", 1)[0]


def same_family(produced_by: str, model: str) -> bool:
    """Whether reasoning state one model produced may go back to another (SPEC §2.9).

    Args:
        produced_by: The model that produced the state.
        model: The model of this request.

    Returns:
        True when both are the same family (Claude, Nova, gpt-oss, or one vendor namespace).
    """
    return bool(produced_by) and family(produced_by) == family(model)


# -- request ---------------------------------------------------------------------------------

_BUDGETS = {"low": 1024, "medium": 2048, "high": 4096}
"""Claude thinking budgets for an effort, on models that take a budget (LiteLLM's mapping)."""
_ANSWER_ROOM = 4096
"""Output tokens left for the answer beside the thinking budget when max_tokens is not given."""


def _schema(tool: Tool) -> dict[str, Any]:
    """A tool's parameters as Converse takes them: a JSON object schema of ``type: object``."""
    schema = dict(tool.parameters)
    schema.setdefault("type", "object")  # Bedrock refuses a root without it (pi#8279)
    return schema


def _tool_spec(tool: Tool) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["inputSchema"] = {"json": _schema(tool)}
    if tool.strict:
        spec["strict"] = True
    return spec


def _tool_config(
    request: ChatRequest, history_tools: list[str], caching: bool
) -> dict[str, Any] | None:
    """``toolConfig``: the request's tools and choice; stubs when only the history has tools.

    A tool marked with ``cache_control`` is followed by a ``cachePoint`` (when ``caching``).

    Converse needs a ``toolConfig`` whenever the history holds ``toolUse`` / ``toolResult``
    blocks, and it has no ``none`` choice: without tools to offer (or with ``tool_choice``
    ``none``), the history's tools are declared with an empty object schema.
    """
    choice = request.tool_choice
    if request.tools and (choice is None or choice.kind != "none"):
        specs: list[Any] = []
        for tool in request.tools:
            specs.append({"toolSpec": _tool_spec(tool)})
            if caching and tool.cache is not None:
                specs.append(cache_point(tool.cache))
        config: dict[str, Any] = {"tools": specs}
        if choice is not None:
            if choice.kind == "auto":
                config["toolChoice"] = {"auto": {}}
            elif choice.kind == "required":
                config["toolChoice"] = {"any": {}}
            else:
                config["toolChoice"] = {"tool": {"name": choice.name}}
        return config
    if not history_tools:
        return None
    logger.debug("bedrock: declaring the history's tools %s for its tool blocks", history_tools)
    stub = {"type": "object", "properties": {}}
    return {
        "tools": [{"toolSpec": {"name": n, "inputSchema": {"json": stub}}} for n in history_tools]
    }


def _reasoning_blocks(
    message: ChatMessage, request: ChatRequest, provider_type: str
) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for item in message.reasoning:
        if (
            item.provider_type != provider_type
            or item.tool_call_id is not None
            or not same_family(item.model, request.model)
        ):
            logger.debug(
                "bedrock: reasoning from %s/%s not sent to %s",
                item.provider_type or "?",
                item.model or "?",
                request.model,
            )
            continue
        if item.redacted:
            blocks.append({"reasoningContent": {"redactedContent": item.text}})
            continue
        text: dict[str, Any] = {"text": item.text}
        if item.signature is not None:
            text["signature"] = item.signature
        blocks.append({"reasoningContent": {"reasoningText": text}})
    return blocks


class _Blocks:
    """Turns one request's parts into Converse blocks: document names, cache points on or off."""

    __slots__ = ("caching", "names")

    def __init__(self, caching: bool) -> None:
        self.caching = caching
        self.names = DocumentNames()

    def parts(self, parts: tuple[Part, ...], where: str, *, drop_empty: bool = False) -> list[Any]:
        """Each part's block, a ``cachePoint`` after each part marked with ``cache_control``."""
        blocks: list[Any] = []
        for j, part in enumerate(parts):
            if drop_empty and type(part) is TextPart and not part.text:
                continue
            blocks.append(part_block(part, self.names, f"{where}.content[{j}]"))
            if self.caching and part.cache is not None:
                blocks.append(cache_point(part.cache))
        return blocks

    def tool_result(self, message: ChatMessage, where: str) -> list[Any]:
        """A tool turn: one ``toolResult`` (its media inside), then its cache point if marked."""
        parts = message.parts
        if all(type(part) is TextPart for part in parts):
            content: list[Any] = [{"text": message.text}]
        else:
            content = [
                part_block(part, self.names, f"{where}.content[{j}]")
                for j, part in enumerate(parts)
                if type(part) is not TextPart or part.text
            ]
        blocks: list[Any] = [
            {"toolResult": {"toolUseId": message.tool_call_id, "content": content}}
        ]
        marks = [part.cache for part in parts if part.cache is not None]
        if self.caching and marks:
            blocks.append(cache_point(marks[-1]))
        return blocks


def _content(
    message: ChatMessage, request: ChatRequest, provider_type: str, blocks: _Blocks, where: str
) -> list[Any]:
    if message.role == "tool":
        return blocks.tool_result(message, where)
    if message.role != "assistant" or not (message.tool_calls or message.reasoning):
        return blocks.parts(message.parts, where)
    content = _reasoning_blocks(message, request, provider_type)
    content += blocks.parts(message.parts, where, drop_empty=True)
    content += [
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}}
        for call in message.tool_calls
    ]
    return content


def _check_documents(turns: list[dict[str, Any]], sources: list[int]) -> None:
    """A user turn with a document needs a text block beside it (Bedrock refuses it else)."""
    for turn, first in zip(turns, sources, strict=True):
        blocks = turn["content"]
        if any("document" in b for b in blocks) and not any(
            str(b.get("text") or "").strip() for b in blocks
        ):
            raise InvalidRequestError(
                f"messages[{first}].content: Bedrock needs a text part beside a document in the "
                "same user turn (it answers 'A text block must be included when using "
                "documents.')"
            )


def _turns(
    request: ChatRequest, provider_type: str, blocks: _Blocks
) -> tuple[list[Any], list[Any], list[str]]:
    """``system`` blocks, alternating turns (consecutive ones merged) and the history's tools."""
    system: list[Any] = []
    turns: list[dict[str, Any]] = []
    sources: list[int] = []  # the first message of each turn
    history_tools: list[str] = []
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            system += blocks.parts(message.parts, where)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        for call in message.tool_calls:
            if call.name not in history_tools:
                history_tools.append(call.name)
        content = _content(message, request, provider_type, blocks, where)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(content)
        else:
            turns.append({"role": role, "content": content})
            sources.append(i)
    if not turns:
        raise InvalidRequestError("Bedrock needs at least one user or assistant message")
    _check_documents(turns, sources)
    return system, turns, history_tools


def _reasoning_fields(
    request: ChatRequest, extra: dict[str, Any], inference: dict[str, Any], body: dict[str, Any]
) -> None:
    """Turn reasoning on for the request's model family (or refuse what it cannot take)."""
    reasoning = request.reasoning
    if reasoning is None:
        return
    model, kind = request.model, family(request.model)
    caps = capabilities("bedrock", _bare(model))
    control = caps.reasoning or {"claude": "adaptive", "nova": "effort", "gpt-oss": "effort"}.get(
        kind
    )
    if not reasoning.enabled:
        if kind == "gpt-oss":
            raise InvalidRequestError(
                f"reasoning='none': {model} always reasons on Bedrock; ask for 'low' instead"
            )
        return
    if control == "none":
        raise InvalidRequestError(f"reasoning: {model} does not reason (capability table)")
    if control is None:
        raise InvalidRequestError(
            f"reasoning: no known reasoning control for {model} on Bedrock; pass the model's own "
            "field in extra_body={'additionalModelRequestFields': {...}}"
        )
    if request.tool_choice is not None and request.tool_choice.forced:
        if kind == "claude" or caps.forced_tool_choice_with_reasoning is False:
            raise InvalidRequestError(
                f"tool_choice={request.tool_choice.kind!r} with reasoning: {model} refuses a "
                "forced tool choice while thinking is on ('Thinking may not be enabled when "
                "tool_choice forces tool use')"
            )
    effort, budget = reasoning.effort, reasoning.budget_tokens
    if kind == "claude":
        if control == "adaptive" and budget is None:
            extra["thinking"] = {"type": "adaptive"}
            if effort is not None:
                body["outputConfig"] = {"effort": effort}
            return
        budget = budget if budget is not None else _BUDGETS[effort or "medium"]
        extra["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if "maxTokens" not in inference:
            room = budget + _ANSWER_ROOM
            ceiling = caps.max_output_tokens
            inference["maxTokens"] = min(room, ceiling) if ceiling else room
        elif inference["maxTokens"] <= budget:
            raise InvalidRequestError(
                f"max_tokens={inference['maxTokens']} must be greater than the thinking budget "
                f"({budget}) on {model}"
            )
        return
    if effort is None:
        raise InvalidRequestError(
            f"reasoning.budget_tokens: {model} takes an effort ('low', 'medium', 'high'), "
            "not a token budget"
        )
    if kind == "gpt-oss":
        extra["reasoning_effort"] = effort
    else:
        extra["reasoningConfig"] = {"type": "enabled", "maxReasoningEffort": effort}


def _nova_tool_cache(request: ChatRequest, body: dict[str, Any]) -> None:
    """Nova takes cache points in ``system`` and ``messages`` only, never among the tools.

    A cache point caches everything before it, the tools included: a tool's ``cache_control``
    is met by any later cache point, else by one at the end of the system prompt.
    """
    marks = [tool.cache for tool in request.tools if tool.cache is not None]
    if not marks or "toolConfig" not in body:
        return
    system: list[Any] = body.get("system", [])
    later = system + [block for message in body["messages"] for block in message["content"]]
    if any("cachePoint" in block for block in later):
        return
    if not system:
        raise InvalidRequestError(
            f"tools: {request.model} (Nova) takes cache points in the system prompt and "
            "messages only; put cache_control on the system prompt or a message (a cache "
            "point there caches the tools before it too)"
        )
    system.append(cache_point(marks[-1]))


def encode_request(request: ChatRequest, provider_type: str = "bedrock") -> dict[str, Any]:
    """The Converse / ConverseStream body for a typed request (both operations take the same).

    ``system`` / ``developer`` turns become ``system`` blocks; consecutive turns of one role
    merge (tool results become ``toolResult`` blocks of one user turn, in order); assistant
    turns carry their reasoning (same provider type and model family only), text and
    ``toolUse`` blocks. Sampling goes to ``inferenceConfig``; ``top_k`` and ``seed`` are model
    fields (``additionalModelRequestFields``) where the family has them.

    Args:
        request: The validated request (``request.model`` is this attempt's model).
        provider_type: The adapter's provider type (reasoning items of another are dropped).

    Returns:
        The body (``extra_body`` not yet merged).

    Raises:
        InvalidRequestError: What Bedrock or the model cannot take, before any network call:
            no user or assistant turn; ``parallel_tool_calls=False`` (Converse has no switch);
            ``top_k`` on gpt-oss, ``seed`` on Claude or Nova; reasoning the model cannot do;
            a forced tool choice with Claude's thinking; ``max_tokens`` within the budget.
    """
    kind = family(request.model)
    caching = capabilities("bedrock", _bare(request.model)).prompt_caching != "implicit"
    system, turns, history_tools = _turns(request, provider_type, _Blocks(caching))
    plan = request.output
    if plan is not None and plan.mode == "json_object":
        system.append(json_object_instruction())
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    if request.parallel_tool_calls is False:
        raise InvalidRequestError(
            "parallel_tool_calls=False: Bedrock's Converse API has no switch for parallel tool "
            "calls (leave it unset)"
        )
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop is not None:
        inference["stopSequences"] = list(request.stop)
    extra: dict[str, Any] = {}
    if request.top_k is not None:
        if kind == "gpt-oss":
            raise InvalidRequestError(f"top_k: {request.model} on Bedrock has no top_k")
        if kind == "nova":
            extra["inferenceConfig"] = {"topK": request.top_k}
        else:
            extra["top_k"] = request.top_k
    if request.seed is not None:
        if kind in ("claude", "nova"):
            raise InvalidRequestError(
                f"seed: {request.model} on Bedrock takes no seed (Converse has none either)"
            )
        extra["seed"] = request.seed
    _reasoning_fields(request, extra, inference, body)
    if inference:
        body["inferenceConfig"] = inference
    if extra:
        body["additionalModelRequestFields"] = extra
    config = _tool_config(request, history_tools, caching and kind != "nova")
    if config is not None:
        body["toolConfig"] = config
    if caching and kind == "nova":
        _nova_tool_cache(request, body)
    output = output_config(plan, kind) if plan is not None else None
    if output is not None:
        body.setdefault("outputConfig", {}).update(output)
    if caching:
        check_cache_order(body)
    return body


# -- answers ---------------------------------------------------------------------------------


def usage_tokens(usage: Mapping[str, Any]) -> dict[str, int]:
    """Normalise Converse usage: ``inputTokens`` excludes cache reads and writes (SPEC §2.2).

    Args:
        usage: The ``usage`` object.

    Returns:
        ``tokens_used``; ``cache_write_1h`` too when ``cacheDetails`` lists 1-hour writes.
    """
    cache_read = usage.get("cacheReadInputTokens")
    cache_write = usage.get("cacheWriteInputTokens")
    prompt = int(usage.get("inputTokens") or 0) + int(cache_read or 0) + int(cache_write or 0)
    tokens = normalize_tokens(
        prompt,
        int(usage.get("outputTokens") or 0),
        cache_read=cache_read,
        cache_write=cache_write,
    )
    details = usage.get("cacheDetails")
    if isinstance(details, list):
        one_hour = sum(
            int(d.get("inputTokens") or 0)
            for d in details
            if isinstance(d, dict) and d.get("ttl") == "1h"
        )
        if one_hour:
            tokens["cache_write_1h"] = one_hour
    return tokens


def _call(block: Mapping[str, Any]) -> ToolCall:
    arguments = block.get("input")
    if isinstance(arguments, str):
        text = arguments
    else:
        text = json.dumps(arguments if arguments is not None else {}, separators=(",", ":"))
    return parse_arguments(str(block.get("toolUseId") or ""), str(block.get("name") or ""), text)


def decode_response(
    data: Mapping[str, Any],
) -> tuple[str, str, dict[str, int], list[ToolCall], list[ReasoningItem]]:
    """Read a Converse answer: text, finish reason, usage, tool calls and reasoning state.

    Args:
        data: The response JSON.

    Returns:
        ``(text, finish reason, tokens, tool calls, reasoning items)``; the finish reason is
        ``tool_calls`` whenever the answer calls tools.
    """
    message = (data.get("output") or {}).get("message") or {}
    texts: list[str] = []
    calls: list[ToolCall] = []
    items: list[ReasoningItem] = []
    for block in message.get("content") or []:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            calls.append(_call(block["toolUse"]))
        elif isinstance(block.get("reasoningContent"), dict):
            reasoning = block["reasoningContent"]
            if isinstance(reasoning.get("redactedContent"), str):
                items.append(ReasoningItem(reasoning["redactedContent"], redacted=True))
            elif isinstance(reasoning.get("reasoningText"), dict):
                text = reasoning["reasoningText"]
                items.append(ReasoningItem(str(text.get("text") or ""), text.get("signature")))
    finish = FINISH.get(data.get("stopReason") or "", "other")
    if calls and finish in ("stop", "other"):
        finish = "tool_calls"
    return "".join(texts), finish, usage_tokens(data.get("usage") or {}), calls, items


def reasoning_text(items: list[ReasoningItem]) -> str | None:
    """The thinking text of an answer's reasoning state (``None`` when it has none).

    Args:
        items: The reasoning items.

    Returns:
        The readable (not redacted) texts joined.
    """
    texts = [item.text for item in items if not item.redacted and item.text]
    return "".join(texts) if texts else None


# -- event streams ---------------------------------------------------------------------------

CONVERSE_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop"}
    | {"messageStop", "metadata"}
)
TERMINAL = frozenset({"messageStop", "metadata"})

StreamFault = Callable[[str, Any], Exception]
"""Builds the mapped error for an exception frame: ``(code, decoded payload) -> error``."""


class ConverseStreamDecoder:
    """Turns decoded event-stream messages into normalised events. Does no I/O.

    Text deltas become ``text``; a ``contentBlockStart`` with ``toolUse`` opens a call at its
    ``contentBlockIndex`` (``tool_start``), its ``input`` fragments are ``tool_delta`` and its
    ``contentBlockStop`` is ``tool_end``; ``reasoningContent`` text, signature and redacted data
    are ``reasoning`` events of the block's index. ``messageStop``'s finish reason is held until
    ``metadata`` (which carries the usage) so that ``finish`` comes last, as it does for every
    vendor.

    Args:
        fault: Builds the error for an exception or error frame.
        malformed: Builds the error for a payload that is not JSON.

    Attributes:
        seen: The event types received.
    """

    __slots__ = ("_finish", "_tools", "fault", "malformed", "seen")

    def __init__(self, fault: StreamFault, malformed: Callable[[str, bytes], Exception]) -> None:
        self.fault = fault
        self.malformed = malformed
        self.seen: set[str] = set()
        self._tools: set[int] = set()
        self._finish: str | None = None

    @property
    def started(self) -> bool:
        """An event of the Converse protocol arrived."""
        return bool(self.seen & CONVERSE_EVENTS)

    @property
    def complete(self) -> bool:
        """Both terminal events (``messageStop`` and ``metadata``) arrived."""
        return TERMINAL <= self.seen

    def __call__(self, message: EventStreamMessage) -> list[StreamEvent]:
        """Decode one message.

        Args:
            message: A message from ``botocore.eventstream.EventStreamBuffer``.

        Returns:
            The events it means (possibly none).

        Raises:
            Exception: What ``fault`` / ``malformed`` build, for an exception or error frame or
                a payload that is not JSON.
        """
        # botocore-stubs types ``headers`` as int; it is a dict.
        headers: dict[str, Any] = message.headers  # type: ignore[assignment]
        payload = message.payload
        kind = headers.get(":message-type")
        if kind == "error":
            code = str(headers.get(":error-code") or "")
            raise self.fault(code, {"message": str(headers.get(":error-message") or "")})
        if kind == "exception":
            code = str(headers.get(":exception-type") or "")
            try:
                body: Any = json.loads(payload) if payload else {}
            except ValueError:
                body = payload.decode("utf-8", errors="replace")
            raise self.fault(code, body)
        if kind != "event":
            return []
        name = str(headers.get(":event-type"))
        self.seen.add(name)
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            raise self.malformed(name, payload) from None
        if not isinstance(data, dict):
            return []
        if name == "contentBlockDelta":
            return self._delta(data)
        if name == "contentBlockStart":
            tool = (data.get("start") or {}).get("toolUse")
            if not isinstance(tool, dict):
                return []
            index = int(data.get("contentBlockIndex") or 0)
            self._tools.add(index)
            return [
                StreamEvent(
                    "tool_start",
                    index=index,
                    tool_id=tool.get("toolUseId"),
                    name=str(tool.get("name") or ""),
                )
            ]
        if name == "contentBlockStop":
            index = int(data.get("contentBlockIndex") or 0)
            if index in self._tools:
                self._tools.discard(index)
                return [StreamEvent("tool_end", index=index)]
            return []
        if name == "messageStop":
            self._finish = FINISH.get(str(data.get("stopReason") or ""), "other")
            return [] if "metadata" not in self.seen else self._finished()
        if name == "metadata":
            usage = StreamEvent("usage", tokens=usage_tokens(data.get("usage") or {}), raw=data)
            return [usage, *self._finished()] if self._finish is not None else [usage]
        return []

    def _finished(self) -> list[StreamEvent]:
        return [StreamEvent("finish", finish_reason=self._finish)]

    def _delta(self, data: dict[str, Any]) -> list[StreamEvent]:
        delta = data.get("delta") or {}
        text = delta.get("text")
        if text is not None:  # the hot path
            return [StreamEvent("text", text=text)] if isinstance(text, str) and text else []
        index = int(data.get("contentBlockIndex") or 0)
        tool = delta.get("toolUse")
        if isinstance(tool, dict):
            fragment = tool.get("input")
            if isinstance(fragment, str) and fragment:
                return [StreamEvent("tool_delta", text=fragment, index=index)]
            return []
        reasoning = delta.get("reasoningContent")
        if not isinstance(reasoning, dict):
            return []
        redacted = reasoning.get("redactedContent")
        if isinstance(redacted, str):
            return [StreamEvent("reasoning", text=redacted, index=index, redacted=True)]
        if isinstance(reasoning.get("signature"), str):
            return [StreamEvent("reasoning", index=index, signature=reasoning["signature"])]
        text = reasoning.get("text")
        if isinstance(text, str) and text:
            return [StreamEvent("reasoning", text=text, index=index)]
        return []
