"""The Gemini wire format, shared by the Gemini API and Vertex AI adapters.

Bodies (``contents``, ``systemInstruction``, ``generationConfig``), answers (``candidates``,
``usageMetadata``, ``promptFeedback``), streams (SSE with no ``[DONE]``, plus bare JSON error
objects) and ``google.rpc.Status`` error bodies.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any, TypeVar, cast

from llmorch._sse import ServerSentEvent, SSEDecoder
from llmorch.exceptions import (
    AuthenticationError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers._common import (
    CallOptions,
    HTTPProvider,
    StreamParser,
    class_for_status,
    not_an_answer,
    split_kwargs,
)
from llmorch.types import LLMResponse, Message, StreamEvent, normalize_tokens

__all__ = [
    "GENERATION_CONFIG_FIELDS",
    "GeminiStreamParser",
    "GoogleProvider",
    "classify_error",
    "gemini_body",
    "parse_response",
    "retry_delay",
    "usage_tokens",
]

T = TypeVar("T")

GENERATION_CONFIG_FIELDS = frozenset(
    {
        "audioTimestamp",
        "candidateCount",
        "enableAffectiveDialog",
        "enableEnhancedCivicAnswers",
        "frequencyPenalty",
        "logprobs",
        "maxOutputTokens",
        "mediaResolution",
        "modelSelectionConfig",
        "presencePenalty",
        "responseJsonSchema",
        "responseLogprobs",
        "responseMimeType",
        "responseModalities",
        "responseSchema",
        "routingConfig",
        "seed",
        "speechConfig",
        "stopSequences",
        "temperature",
        "thinkingConfig",
        "topK",
        "topP",
    }
)
"""``generationConfig`` fields: a keyword argument named after one (camelCase or snake_case) goes
there instead of the body's top level."""

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_FILTERED = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
}
_FINISH.update(dict.fromkeys(_FILTERED, "content_filter"))

_STATUS_NAMES: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": ModelNotFoundError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
}
_CONTEXT = re.compile(
    r"input token count.*exceeds|exceeds the maximum number of tokens", re.I | re.S
)
_MODEL_MISSING = re.compile(r"\bmodels?\b.*\b(?:is|was) not found", re.I | re.S)
_CAMEL = re.compile(r"_([a-z])")


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def gemini_body(
    messages: list[Message],
    temperature: float | None,
    max_tokens: int | None,
    kwargs: Mapping[str, Any],
    safety_settings: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Build a ``generateContent`` body.

    System messages become ``systemInstruction``; ``assistant`` turns are sent as ``model``;
    consecutive turns of one role are merged into one ``Content`` with several parts.

    Args:
        messages: Validated messages.
        temperature: Sent only when given.
        max_tokens: Sent as ``generationConfig.maxOutputTokens`` when given.
        kwargs: ``stop``, ``top_p``, ``generationConfig`` fields (camelCase or snake_case) and
            top-level body fields (``tools``, ``safetySettings``, ``cachedContent``, …).
        safety_settings: The configured ``safetySettings`` (a ``safetySettings`` kwarg wins).

    Returns:
        The body.

    Raises:
        InvalidRequestError: There is no user or assistant message.
    """
    stop, top_p, rest = split_kwargs(kwargs)
    system = [m["content"] for m in messages if m["role"] == "system"]
    contents: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        role = "model" if m["role"] == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": m["content"]})
        else:
            contents.append({"role": role, "parts": [{"text": m["content"]}]})
    if not contents:
        raise InvalidRequestError("Gemini needs at least one user or assistant message")
    config: dict[str, Any] = {}
    for key in ("generationConfig", "generation_config"):
        config.update(rest.pop(key, None) or {})
    for key in [k for k in rest if _camel(k) in GENERATION_CONFIG_FIELDS]:
        config[_camel(key)] = rest.pop(key)
    if temperature is not None:
        config["temperature"] = temperature
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    if top_p is not None:
        config["topP"] = top_p
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if config:
        body["generationConfig"] = config
    if safety_settings is not None:
        body["safetySettings"] = [dict(s) for s in safety_settings]
    body.update(rest)
    return body


def usage_tokens(meta: Mapping[str, Any]) -> dict[str, int]:
    """Normalise ``usageMetadata``.

    ``prompt`` is ``promptTokenCount`` (which includes cached content) plus
    ``toolUsePromptTokenCount``; ``completion`` is ``candidatesTokenCount`` plus
    ``thoughtsTokenCount`` (thinking is billed as output); ``cache_read`` is
    ``cachedContentTokenCount`` and ``reasoning`` is ``thoughtsTokenCount``, when sent.

    Args:
        meta: The ``usageMetadata`` object.

    Returns:
        The normalised token counts.
    """
    thoughts = meta.get("thoughtsTokenCount")
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + int(thoughts or 0)
    return normalize_tokens(
        prompt, completion, cache_read=meta.get("cachedContentTokenCount"), reasoning=thoughts
    )


def _candidate(data: Mapping[str, Any]) -> dict[str, Any]:
    candidates = data.get("candidates") or [{}]
    first = candidates[0] if isinstance(candidates, list) else {}
    return first if isinstance(first, dict) else {}


def _text(candidate: Mapping[str, Any]) -> str:
    content = candidate.get("content") or {}
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(
        part["text"]
        for part in parts or []
        if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
    )


def _block_reason(data: Mapping[str, Any]) -> str | None:
    feedback = data.get("promptFeedback") or {}
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason and not data.get("candidates") else None


def parse_response(data: Mapping[str, Any]) -> tuple[str, str | None, dict[str, int]]:
    """Read text, finish reason and usage from a ``GenerateContentResponse``.

    Parts marked ``thought: true`` (thought summaries) are left out of the text.

    Args:
        data: The response JSON (or one stream chunk).

    Returns:
        ``(text, normalised finish reason or None, tokens)``.
    """
    candidate = _candidate(data)
    reason = candidate.get("finishReason")
    finish = _FINISH.get(str(reason), "other") if reason else None
    return _text(candidate), finish, usage_tokens(data.get("usageMetadata") or {})


def _error_object(payload: Any) -> dict[str, Any]:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return error
    return {"message": str(payload)[:500] if payload else ""}


def _details(error: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    return [
        d
        for d in details or []
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc." + kind)
    ]


def classify_error(status: int | None, payload: Any) -> tuple[type[ProviderError], str]:
    """Classify a ``google.rpc.Status`` error body (``{"error": {code, message, status, …}}``).

    Args:
        status: The HTTP status, or ``None`` for an error inside a stream (its ``code`` is used).
        payload: The decoded body, possibly wrapped in a one-element list.

    Returns:
        ``(class, message)``. An invalid API key (400 with reason ``API_KEY_INVALID``) is an
        authentication error; a prompt over the context window is a context-length error.
    """
    error = _error_object(payload)
    code = error.get("code") if status is None else status
    state = str(error.get("status") or "")
    message = str(error.get("message") or f"HTTP {status}")
    if isinstance(code, int) and code >= 400:
        cls = class_for_status(code)
    else:
        cls = _STATUS_NAMES.get(state, ProviderUnavailableError)
    if any(d.get("reason") == "API_KEY_INVALID" for d in _details(error, "ErrorInfo")):
        cls = AuthenticationError
    elif cls is InvalidRequestError and _CONTEXT.search(message):
        cls = ContextLengthExceededError
    elif cls is InvalidRequestError and _MODEL_MISSING.search(message):
        cls = ModelNotFoundError
    return cls, message


def retry_delay(payload: Any) -> float | None:
    """The back-off a ``google.rpc.RetryInfo`` detail asks for.

    Args:
        payload: The decoded error body.

    Returns:
        Seconds (``"12s"`` → 12.0, also ``{"seconds": 12, "nanos": …}``), or ``None``.
    """
    for detail in _details(_error_object(payload), "RetryInfo"):
        delay = detail.get("retryDelay")
        seconds: float | None = None
        try:
            if isinstance(delay, str) and delay.endswith("s"):
                seconds = float(delay[:-1])
            elif isinstance(delay, dict):
                seconds = float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
        # "NaNs" or "infs" is no usable delay: ignore it so the exponential backoff applies.
        return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None
    return None


class GoogleProvider(HTTPProvider):
    """What the Gemini API and Vertex AI adapters share: errors, streams, auth retries.

    Subclasses may override :meth:`prepare` and :meth:`recover` to fetch and renew credentials.
    """

    request_id_header = "x-request-id"
    owned_fields = frozenset({"contents", "systemInstruction", "system_instruction"})

    def error_for(
        self, status: int | None, payload: Any, model: str | None
    ) -> tuple[type[ProviderError], str, bool | None]:
        """Classify a Google error body.

        Args:
            status: HTTP status, or ``None`` in a stream.
            payload: The decoded body.
            model: The model the request was for.

        Returns:
            ``(class, message, None)``.
        """
        cls, message = classify_error(status, payload)
        return cls, message, None

    def make_error(
        self,
        status: int | None,
        payload: Any,
        model: str | None,
        response_headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """Build the mapped error; ``RetryInfo.retryDelay`` in the body sets ``retry_after``.

        Args:
            status: The HTTP status, or ``None`` inside a stream.
            payload: The decoded error body.
            model: The model the request was for.
            response_headers: The response headers.
            request_id: The request id when already known.

        Returns:
            The error to raise.
        """
        error = super().make_error(status, payload, model, response_headers, request_id)
        if error.retry_after is None:
            error.retry_after = retry_delay(payload)
        return error

    def sse_decoder(self) -> SSEDecoder:
        """A decoder that also collects the bare JSON error objects Google streams carry.

        Returns:
            The decoder.
        """
        return SSEDecoder(bare_json=True)

    async def prepare(self) -> str | None:
        """Make the credentials ready before a request (nothing to do for an API key).

        Returns:
            The credential the request will use, to hand to :meth:`recover` on a 401.
        """
        return None

    async def recover(self, used: str | None) -> bool:
        """Renew credentials after an authentication failure.

        Args:
            used: What :meth:`prepare` returned for the failed request.

        Returns:
            True when the request is worth retrying once (an API key is not).
        """
        return False

    async def with_auth(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one request; after a 401, let :meth:`recover` renew credentials and retry once.

        Args:
            call: Sends the request.

        Returns:
            What ``call`` returned.
        """
        used = await self.prepare()
        try:
            return await call()
        except AuthenticationError:
            if not await self.recover(used):
                raise
        return await call()

    async def stream_with_auth(
        self,
        path: str,
        body: Mapping[str, Any],
        model: str,
        parser: Callable[[str | None], StreamParser],
        options: CallOptions | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream like :meth:`stream_sse`; a 401 before the first event may be retried once.

        Args:
            path: Path under :attr:`base_url`.
            body: The JSON body.
            model: The model, for errors.
            parser: Builds the per-stream event parser, given the request id.
            options: The call's options.

        Yields:
            ``start`` and then the parsed events.
        """
        used = await self.prepare()
        for attempt in (0, 1):
            started = False
            try:
                stream = self.stream_sse(path, body, model, parser, options)
                async with aclosing(cast("AsyncGenerator[StreamEvent, None]", stream)) as events:
                    async for event in events:
                        started = True
                        yield event
                return
            except AuthenticationError:
                if started or attempt or not await self.recover(used):
                    raise

    def gemini_response(
        self, data: dict[str, Any], model: str, request_id: str | None
    ) -> LLMResponse:
        """Turn a ``GenerateContentResponse`` into an :class:`~llmorch.types.LLMResponse`.

        Args:
            data: The response JSON.
            model: The model requested.
            request_id: The request id from the headers, if any (``responseId`` wins).

        Returns:
            The answer.

        Raises:
            ContentFilteredError: The prompt or the answer was blocked and no text came back.
        """
        request_id = data.get("responseId") or request_id
        block = _block_reason(data)
        if block:
            raise self.content_filtered(
                f"the prompt was blocked ({block})", model, request_id, data
            )
        text, finish, tokens = parse_response(data)
        if not text and finish is None:
            raise not_an_answer(self.name, model, request_id, data)
        if finish == "content_filter" and not text:
            reason = _candidate(data).get("finishReason")
            raise self.content_filtered(
                f"the answer was blocked ({reason})", model, request_id, data
            )
        return LLMResponse(
            content=text,
            model=model,
            provider=self.name,
            tokens_used=tokens,
            finish_reason=finish or "other",
            request_id=request_id,
            raw_response=data,
            model_answered=data.get("modelVersion"),
        )


class GeminiStreamParser:
    """Sans-I/O: one ``streamGenerateContent?alt=sse`` event in, the normalised events out.

    Each chunk carries only its new parts; ``usageMetadata`` repeats and the last one counts.
    There is no ``[DONE]``: the answer is whole once a candidate carries ``finishReason``. A
    bare ``{"error": …}`` object (or one wrapped in a list) is raised mapped.

    Args:
        adapter: The adapter, for building mapped errors.
        model: The model the request was for.
        request_id: The request id from the response headers.
    """

    __slots__ = ("adapter", "complete", "model", "request_id", "seen_text", "started")

    def __init__(self, adapter: HTTPProvider, model: str, request_id: str | None) -> None:
        self.adapter = adapter
        self.model = model
        self.request_id = request_id
        self.seen_text = False
        self.started = False
        self.complete = False

    def __call__(self, sse: ServerSentEvent) -> list[StreamEvent]:
        """Parse one event.

        Args:
            sse: The server-sent event (from a ``bare_json`` decoder).

        Returns:
            ``text``, ``usage`` and ``finish`` events.

        Raises:
            ProviderError: An error object arrived, a chunk was not JSON, or the prompt or
                answer was blocked before any text (``ContentFilteredError``).
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
        if block and not self.seen_text:
            message = f"the prompt was blocked ({block})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        text, finish, tokens = parse_response(chunk)
        if "candidates" in chunk or "usageMetadata" in chunk:
            self.started = True
        out: list[StreamEvent] = []
        if text:
            self.seen_text = True
            out.append(StreamEvent("text", text=text))
        if "usageMetadata" in chunk:
            out.append(
                StreamEvent(
                    "usage",
                    tokens=tokens,
                    request_id=chunk.get("responseId"),
                    model_answered=chunk.get("modelVersion"),
                    raw=chunk,
                )
            )
        if finish == "content_filter" and not self.seen_text:
            message = f"the answer was blocked ({_candidate(chunk).get('finishReason')})"
            raise self.adapter.content_filtered(message, self.model, self.request_id, chunk)
        if finish:
            self.complete = True
            out.append(StreamEvent("finish", finish_reason=finish))
        return out
