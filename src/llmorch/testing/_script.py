"""What the emulator answers: scripted replies and faults, and deterministic token counts."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = [
    "Fault",
    "Reply",
    "Scripts",
    "ToolUse",
    "count_tokens",
    "default_arguments",
    "split_chunks",
]

FaultKind = Literal[
    "status", "reset", "hang", "wrong_type", "cut", "stall", "stream_error", "malformed", "bad_crc"
]
BAD_CRC = "bad event-stream CRC"
"""The message of a :meth:`Fault.bad_crc` fault, which dialects with checksums recognise."""
ErrorKind = Literal[
    "invalid_request",
    "context_length",
    "auth",
    "permission",
    "not_found",
    "rate_limit",
    "quota",
    "server_error",
    "overloaded",
    "timeout",
]


def count_tokens(text: str) -> int:
    """The emulator's token count: whitespace-separated words (deterministic, checkable).

    Args:
        text: Any text.

    Returns:
        The number of words.
    """
    return len(text.split())


def split_chunks(text: str) -> list[str]:
    """Split a reply into stream chunks: one word each, spaces kept on the following word.

    Args:
        text: The reply.

    Returns:
        Chunks that join back to ``text``.
    """
    chunks: list[str] = []
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        if chunks and not chunks[-1].strip():
            chunks[-1] += piece
        else:
            chunks.append(piece)
    return [c for c in chunks if c]


@dataclass(frozen=True)
class ToolUse:
    """A tool call the emulator answers with.

    Attributes:
        name: The tool's name (it must be one of the request's tools).
        arguments: The arguments; a ``str`` is sent verbatim (e.g. malformed JSON).
        id: The call id; ``None`` lets the dialect make one the vendor's way (Gemini sends
            none unless asked).
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        """The arguments as the JSON text a vendor streams."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True)
class Reply:
    """A successful answer.

    Attributes:
        text: The answer's text (may be empty when the answer is only tool calls).
        finish_reason: ``stop``, ``length``, ``content_filter`` or ``tool_calls`` (each dialect
            writes its own spelling); ``tool_calls`` is implied by ``tool_calls``.
        prompt_tokens: Reported input tokens; ``None`` counts the request's words.
        completion_tokens: Reported output tokens; ``None`` counts the reply's words.
        chunk_delay: Seconds to wait before each stream chunk (slow streams).
        tool_calls: Tool calls the answer makes, in order (parallel when more than one;
            streamed interleaved where the vendor interleaves them).
        reasoning: Thinking text the answer carries first (signed the vendor's way when the
            request turned reasoning on; without reasoning on it is not sent).
    """

    text: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunk_delay: float = 0.0
    tool_calls: tuple[ToolUse, ...] = ()
    reasoning: str | None = None


@dataclass(frozen=True)
class Fault:
    """A failure to serve instead of a reply. Build one with the class methods.

    Attributes:
        kind: What goes wrong.
        status: The HTTP status, for ``status`` faults.
        error: The vendor error kind (each dialect writes its own body for it).
        message: The error message (empty: the vendor's usual wording for the error).
        retry_after: Sent as ``retry-after`` (seconds) when set.
        headers: Extra response headers.
        after: For stream faults, how many text chunks are sent first.
        text: For stream faults, the text those chunks come from.
        clean: For ``cut``, end the body properly (chunked terminator, keep-alive) instead of
            closing the connection: the terminal event simply never comes.
        tool_calls: For ``cut``, tool calls streamed after the text chunks: every call but the
            last is sent whole, the last is cut after the first half of its arguments.
    """

    kind: FaultKind
    status: int = 0
    error: ErrorKind | None = None
    message: str = ""
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    after: int = 0
    text: str = "This answer will not finish because the emulator cuts it"
    clean: bool = False
    tool_calls: tuple[ToolUse, ...] = ()

    @classmethod
    def http(
        cls,
        status: int,
        *,
        error: ErrorKind | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Any HTTP error status with the vendor's own error body.

        Args:
            status: The status code (e.g. 400, 401, 404, 429, 500, 503, 529).
            error: The vendor error kind; by default derived from the status.
            message: The error message (the vendor's usual wording otherwise).
            retry_after: Seconds for the ``retry-after`` header.
            headers: Extra headers (e.g. ``{"x-should-retry": "false"}``).

        Returns:
            The fault.
        """
        return cls(
            "status",
            status=status,
            error=error or _error_for_status(status),
            message=message or "",
            retry_after=retry_after,
            headers=dict(headers or {}),
        )

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        """HTTP 429 with ``retry-after``.

        Args:
            retry_after: Seconds to ask the client to wait.

        Returns:
            The fault.
        """
        return cls.http(
            429, error="rate_limit", message="Rate limit reached", retry_after=retry_after
        )

    @classmethod
    def overloaded(cls) -> Fault:
        """The provider is overloaded (Anthropic: 529 ``overloaded_error``; others 503).

        Returns:
            The fault.
        """
        return cls.http(529, error="overloaded", message="Overloaded")

    @classmethod
    def reset(cls) -> Fault:
        """Close the connection before sending any response.

        Returns:
            The fault.
        """
        return cls("reset")

    @classmethod
    def hang(cls) -> Fault:
        """Never answer (the client's timeout must end the call).

        Returns:
            The fault.
        """
        return cls("hang")

    @classmethod
    def cut(
        cls,
        after: int = 2,
        text: str | None = None,
        *,
        clean: bool = False,
        tool_calls: Iterable[ToolUse] = (),
    ) -> Fault:
        """Close the connection after ``after`` stream chunks (mid-body for non-streams).

        Args:
            after: Text chunks sent before the cut.
            text: The text to stream.
            clean: End the body properly instead: a stream stops before its terminal event
                (OpenAI's finish chunk, usage and ``[DONE]``; Anthropic's ``message_delta`` and
                ``message_stop``; Gemini's ``finishReason``) but its chunked body is terminated
                and the connection kept; a non-streamed answer is a well-framed body that stops
                mid-JSON.
            tool_calls: Tool calls streamed after the text; the last one is cut halfway
                through its arguments (a stream cut mid-call).

        Returns:
            The fault.
        """
        fault = cls("cut", after=after, clean=clean, tool_calls=tuple(tool_calls))
        return dataclasses.replace(fault, text=text) if text else fault

    @classmethod
    def stream_error(
        cls, after: int = 1, error: ErrorKind = "overloaded", text: str | None = None
    ) -> Fault:
        """An error event inside a 200 stream after ``after`` chunks.

        Non-streaming requests get the same error as an HTTP status instead.

        Args:
            after: Text chunks sent before the error.
            error: The vendor error kind.
            text: The text to stream.

        Returns:
            The fault.
        """
        fault = cls(
            "stream_error",
            error=error,
            message="Overloaded" if error == "overloaded" else "",
            after=after,
        )
        return dataclasses.replace(fault, text=text) if text else fault

    @classmethod
    def malformed(cls, after: int = 1) -> Fault:
        """A stream event whose data is not JSON, after ``after`` chunks.

        Args:
            after: Text chunks sent before it.

        Returns:
            The fault.
        """
        return cls("malformed", after=after)

    @classmethod
    def wrong_content_type(cls) -> Fault:
        """A ``200`` whose body is an HTML page (a proxy or captive portal answering instead).

        Returns:
            The fault.
        """
        return cls(
            "wrong_type", status=200, message="<html><body>Service Unavailable</body></html>"
        )

    @classmethod
    def stall(cls, after: int = 2, text: str | None = None) -> Fault:
        """Send ``after`` stream chunks, then nothing more: the client's read timeout must end it.

        A non-streaming request gets its body cut short, as with :meth:`cut`.

        Args:
            after: Text chunks sent before the stall.
            text: The text to stream.

        Returns:
            The fault.
        """
        fault = cls("stall", after=after)
        return dataclasses.replace(fault, text=text) if text else fault

    @classmethod
    def bad_crc(cls, after: int = 1) -> Fault:
        """An event-stream frame whose CRC does not match, after ``after`` chunks.

        Bedrock's binary event stream carries CRCs; SSE dialects, which have none, send a
        malformed event instead (as for :meth:`malformed`).

        Args:
            after: Text chunks sent before it.

        Returns:
            The fault.
        """
        return cls("bad_crc", after=after, message=BAD_CRC)


Scripted = Union[Reply, Fault, str]  # noqa: UP007 - a runtime alias on Python 3.10


def _error_for_status(status: int) -> ErrorKind:
    return {
        400: "invalid_request",
        401: "auth",
        403: "permission",
        404: "not_found",
        408: "timeout",
        429: "rate_limit",
        504: "timeout",
        529: "overloaded",
        503: "overloaded",
    }.get(status, "server_error" if status >= 500 else "invalid_request")  # type: ignore[return-value]


class Scripts:
    """Per dialect and model queues of scripted items; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], deque[Reply | Fault]] = {}

    def add(self, dialect: str, model: str, items: Iterable[Scripted]) -> None:
        """Queue replies and faults for one model.

        Args:
            dialect: The dialect name.
            model: The model id.
            items: Replies (a ``str`` is a :class:`Reply`) and faults, served in order.
        """
        with self._lock:
            queue = self._queues.setdefault((dialect, model), deque())
            queue.extend(Reply(i) if isinstance(i, str) else i for i in items)

    def pop(self, dialect: str, model: str) -> Reply | Fault | None:
        """Take the next scripted item for a model, if any.

        Args:
            dialect: The dialect name.
            model: The model id.

        Returns:
            The item, or ``None`` when nothing is queued.
        """
        with self._lock:
            queue = self._queues.get((dialect, model))
            return queue.popleft() if queue else None

    def models(self, dialect: str) -> set[str]:
        """Models that were ever scripted for a dialect (they exist on it).

        Args:
            dialect: The dialect name.

        Returns:
            The model ids.
        """
        with self._lock:
            return {m for d, m in self._queues if d == dialect}

    def clear(self) -> None:
        """Drop every queued item."""
        with self._lock:
            self._queues.clear()


def request_words(messages: Any, *extra: Any) -> int:
    """Count the words of every text in a request's messages (and extra strings).

    Args:
        messages: The request's message list (string or block contents).
        *extra: Other strings (e.g. a top-level system prompt).

    Returns:
        The prompt token count the emulator reports.
    """
    total = 0
    texts: list[Any] = list(extra)
    if isinstance(messages, list):
        texts += [m.get("content") for m in messages if isinstance(m, dict)]
    for text in texts:
        if isinstance(text, str):
            total += count_tokens(text)
        elif isinstance(text, list):
            total += sum(count_tokens(b.get("text", "")) for b in text if isinstance(b, dict))
    return total


def truncate(text: str, max_tokens: Any) -> tuple[str, bool]:
    """Cut a reply to ``max_tokens`` words.

    Args:
        text: The reply.
        max_tokens: The request's limit (ignored unless a positive int).

    Returns:
        ``(text, was_cut)``.
    """
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        return text, False
    words = text.split(" ")
    kept: list[str] = []
    count = 0
    for word in words:
        count += 1 if word else 0
        if count > max_tokens:
            return " ".join(kept), True
        kept.append(word)
    return text, False


_DEFAULTS: dict[str, Any] = {
    "string": "x",
    "integer": 1,
    "number": 1,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


def default_arguments(schema: Any) -> dict[str, Any]:
    """Arguments that satisfy a tool's JSON schema's required properties, for forced calls.

    Used when a request forces a tool (``required`` / a named tool) and nothing is scripted.

    Args:
        schema: The tool's parameter schema (a JSON object schema).

    Returns:
        Every required property with a plain value of its type (an enum's first value; an
        array gets one item its item schema accepts).
    """
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or ():
        prop = properties.get(name) if isinstance(properties, dict) else None
        prop = prop if isinstance(prop, dict) else {}
        if prop.get("enum"):
            out[name] = prop["enum"][0]
            continue
        kind = prop.get("type", "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "string")
        if kind == "object":
            out[name] = default_arguments(prop)
        elif kind == "array" or "$ref" in prop or "anyOf" in prop:
            out[name] = schema_instance(prop, schema)  # a value its item schema accepts
        else:
            out[name] = _DEFAULTS.get(kind, "x")
    return out


def schema_instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A deterministic JSON value that a JSON Schema accepts: the emulator's structured answer.

    Every property is filled (required or not, so strict and non-strict schemas both get a
    full object); arrays get ``minItems`` items (at least one); references to ``$defs`` /
    ``definitions`` resolve; ``anyOf`` / ``oneOf`` take their first non-null option.

    Args:
        schema: The schema (OpenAPI-style ``type`` names in upper case, as Gemini's
            ``responseSchema`` writes them, are understood too).
        root: The document ``$ref`` paths resolve against (the schema itself by default).
        depth: The nesting so far (recursion stops at 8 levels).

    Returns:
        The value.
    """
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > 8:
        return None if depth > 8 else "x"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key, {}) if isinstance(target, dict) else {}
        return schema_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return schema_instance((usable or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower() if kind is not None else ("object" if "properties" in schema else "")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {
            name: schema_instance(sub, root, depth + 1)
            for name, sub in properties.items()
            if isinstance(properties, dict)
        }
    if kind == "array":
        count = max(int(schema.get("minItems") or 1), 1)
        items = schema.get("items")
        if isinstance(schema.get("prefixItems"), list):
            return [schema_instance(s, root, depth + 1) for s in schema["prefixItems"]]
        return [schema_instance(items if isinstance(items, dict) else {}, root, depth + 1)] * count
    if kind == "string":
        fmt = schema.get("format")
        value = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "email": "a@b.co",
                 "uri": "https://example.com", "uuid": "00000000-0000-4000-8000-000000000000"
                 }.get(str(fmt), "x")  # fmt: skip
        return value * max(int(schema.get("minLength") or 1), 1) if value == "x" else value
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        number = 1 if low is None else int(low) + (1 if "exclusiveMinimum" in schema else 0)
        high = schema.get("maximum")
        return min(number, int(high)) if high is not None else number
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x"
