"""The Gemini stream parser, sans I/O: one ``streamGenerateContent?alt=sse`` event in, events out.

Shared by the Gemini API and Vertex AI adapters; the chunk fields are read with the response
helpers of :mod:`llmorch.providers._gemini_wire` (docs/wire/google.md has the facts).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from llmorch._sse import ServerSentEvent
from llmorch.providers._gemini_wire import (
    ErrorFactory,
    _arguments_json,
    _block_reason,
    _candidate,
    _finish,
    _parts,
    usage_tokens,
)
from llmorch.types import StreamEvent

__all__ = ["GeminiStreamParser"]

_COUNTS = frozenset({"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount"})
# (Vertex's early chunks carry usageMetadata with only trafficType: no usage to report yet.)
_THOUGHTS = 0  # reasoning block of the thought summaries
_TEXT_SIGNATURE = 1  # the bare signature on the answer's text part


class GeminiStreamParser:
    """Sans-I/O: one ``streamGenerateContent?alt=sse`` event in, the normalised events out.

    Each chunk carries only its new parts; ``usageMetadata`` repeats, and is reported when its
    counts change. There is no ``[DONE]``: the answer is whole once a candidate carries
    ``finishReason``. A function call arrives whole in one part: it is reported as
    ``tool_start`` (with its arguments and signature) and ``tool_end``, numbered by a running
    count. With Vertex's ``streamFunctionCallArguments`` a call instead opens with ``name`` and
    ``willContinue``, its ``partialArgs`` (values at JSON paths, strings in pieces) follow, and
    an empty ``functionCall`` closes it: the arguments are assembled here, because they are no
    JSON text fragments, and reported as one ``tool_delta`` when it closes. A bare
    ``{"error": …}`` object (or one wrapped in a list) is raised mapped.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = (
        "adapter",
        "calls",
        "complete",
        "growing",
        "model",
        "request_id",
        "seen_content",
        "started",
        "usage",
    )

    def __init__(self, adapter: ErrorFactory, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.seen_content = False
        self.started = False
        self.complete = False
        self.calls = 0
        self.usage: dict[str, int] | None = None
        self.growing: tuple[int, dict[str, Any]] | None = None  # a call with streamed args

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event (from a ``bare_json`` decoder).

        Returns:
            ``text``, ``reasoning``, ``tool_start``/``tool_end``, ``usage`` and ``finish``
            events.

        Raises:
            ProviderError: An error object arrived, a chunk was not JSON, or the prompt or
                answer was blocked before any content (``ContentFilteredError``).
        """
        if not sse.data:
            return []
        decoded = self.adapter.decode_event(sse.data, self.model, self.request_id)
        out: list[StreamEvent] = []
        for chunk in decoded if isinstance(decoded, list) else [decoded]:
            if isinstance(chunk, dict):
                out += self._chunk(chunk)
        return out

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if "error" in chunk:
            raise self.adapter.make_error(None, chunk, self.model, request_id=self.request_id)
        self.request_id = chunk.get("responseId") or self.request_id
        block = _block_reason(chunk)
        if block and not self.seen_content:
            message = f"the prompt was blocked ({block})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        if "candidates" in chunk or "usageMetadata" in chunk:
            self.started = True
        candidate = _candidate(chunk)
        out = self._parts(_parts(candidate))
        finish = _finish(candidate)
        if finish and self.growing is not None:  # the call's closing part never came
            out += self._close()
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict) and _COUNTS.intersection(meta):
            tokens = usage_tokens(meta)
            if tokens != self.usage:
                self.usage = tokens
                out.append(
                    StreamEvent(
                        "usage",
                        tokens=tokens,
                        request_id=chunk.get("responseId"),
                        model_answered=chunk.get("modelVersion"),
                        raw=chunk,
                    )
                )
        if finish == "content_filter" and not self.seen_content:
            message = f"the answer was blocked ({candidate.get('finishReason')})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        if finish:
            self.complete = True
            if finish == "stop" and self.calls:
                finish = "tool_calls"
            out.append(StreamEvent("finish", finish_reason=finish))
        return out

    def _parts(self, parts: list[dict[str, Any]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for part in parts:
            signature = part.get("thoughtSignature")
            call = part.get("functionCall")
            if isinstance(call, dict):
                out += self._call(call, signature)
                continue
            text = part.get("text")
            if not isinstance(text, str):
                continue
            if part.get("thought"):
                self.seen_content = self.seen_content or bool(text)
                out.append(
                    StreamEvent("reasoning", text=text, index=_THOUGHTS, signature=signature)
                )
                continue
            if text:
                self.seen_content = True
                out.append(StreamEvent("text", text=text))
            if signature:
                out.append(StreamEvent("reasoning", index=_TEXT_SIGNATURE, signature=signature))
        return out

    def _call(self, call: dict[str, Any], signature: str | None) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        partial = call.get("partialArgs")
        if self.growing is not None:
            if isinstance(partial, list):
                for arg in partial:
                    if isinstance(arg, dict):
                        _set_partial(self.growing[1], arg)
                return out
            if "name" not in call:
                return self._close() if not call.get("willContinue") else out
            out += self._close()
        elif "name" not in call:
            return out  # a stray terminator or continuation: nothing is open
        index = self.calls
        self.calls += 1
        self.seen_content = True
        streamed = bool(call.get("willContinue"))
        out.append(
            StreamEvent(
                "tool_start",
                text="" if streamed else _arguments_json(call),
                index=index,
                tool_id=call.get("id"),
                name=str(call.get("name") or ""),
                signature=signature,
            )
        )
        if streamed:
            self.growing = (index, {})
        else:
            out.append(StreamEvent("tool_end", index=index))
        return out

    def _close(self) -> list[StreamEvent]:
        assert self.growing is not None
        index, args = self.growing
        self.growing = None
        text = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
        return [
            StreamEvent("tool_delta", text=text, index=index),
            StreamEvent("tool_end", index=index),
        ]


_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _set_partial(args: dict[str, Any], arg: Mapping[str, Any]) -> None:
    """Apply one ``PartialArg``: a value at a JSON path (``$.a.b[0].c``); strings come in pieces."""
    steps: list[str | int] = [
        name if name else int(number)
        for name, number in _PATH_STEP.findall(str(arg.get("jsonPath") or "")[1:])
    ]
    if not steps:
        return
    node: Any = args
    for step, following in zip(steps, [*steps[1:], None], strict=True):
        if following is None:
            break
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(step, int) and isinstance(node, list):
            while len(node) <= step:
                node.append(None)
            node[step] = node[step] if node[step] is not None else fresh
            node = node[step]
        elif isinstance(step, str) and isinstance(node, dict):
            node = node.setdefault(step, fresh)
        else:
            return
    last = steps[-1]
    if "stringValue" in arg:
        value: Any = arg["stringValue"]
        current = node[last] if _has(node, last) else None
        value = (current if isinstance(current, str) else "") + str(value)
    elif "numberValue" in arg:
        value = arg["numberValue"]
    elif "boolValue" in arg:
        value = arg["boolValue"]
    else:
        value = None
    if isinstance(last, int) and isinstance(node, list):
        while len(node) <= last:
            node.append(None)
        node[last] = value
    elif isinstance(last, str) and isinstance(node, dict):
        node[last] = value


def _has(node: Any, key: str | int) -> bool:
    if isinstance(node, dict):
        return key in node
    return isinstance(node, list) and isinstance(key, int) and key < len(node)
