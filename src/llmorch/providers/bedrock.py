"""AWS Bedrock Converse / ConverseStream over raw HTTP (``type: bedrock``).

One body mapping serves every model family Converse supports (Claude, Nova, Titan, Llama,
Mistral, Cohere, AI21, …). Requests are SigV4-signed with botocore's signer (or carry a Bedrock
API key); streams are AWS event streams decoded with ``botocore.eventstream``; errors are
classified by ``x-amzn-ErrorType``, not by status alone (a 429 can be throttling or a model that
is not ready yet).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from llmorch._http import AsyncClient, Response, StreamBody, fetch, open_stream, parse_retry_after
from llmorch._scrub import scrub
from llmorch.config import BedrockConfig, ProviderConfig
from llmorch.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers._aws import AWSAuth, encode_label, encode_query
from llmorch.providers._common import (
    CallOptions,
    call_options,
    class_for_status,
    end_of_stream,
    legacy_call,
    not_an_answer,
    split_kwargs,
)
from llmorch.providers.base import BaseLLMProvider
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, Message, ModelInfo, StreamEvent, normalize_tokens

if TYPE_CHECKING:
    from botocore.eventstream import EventStreamMessage, MessagePrelude

__all__ = [
    "BedrockProvider",
    "classify_error",
    "converse_body",
    "decode_event_stream",
    "error_code",
    "parse_converse",
    "usage_tokens",
]

logger = logging.getLogger("llmorch")

REQUEST_ID_HEADER = "x-amzn-requestid"

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# Converse request members that belong at the top level of the body, not in
# ``additionalModelRequestFields``.
_TOP_LEVEL = frozenset(
    {
        "toolConfig",
        "guardrailConfig",
        "performanceConfig",
        "requestMetadata",
        "additionalModelResponseFieldPaths",
        "promptVariables",
        "serviceTier",
        "outputConfig",
    }
)

# Error code (``x-amzn-ErrorType`` / ``__type`` / event-stream exception) -> (class, retryable).
_CODES: dict[str, tuple[type[ProviderError], bool | None]] = {
    "ThrottlingException": (RateLimitError, True),
    "TooManyRequestsException": (RateLimitError, True),
    "ServiceQuotaExceededException": (RateLimitError, False),
    "ModelNotReadyException": (ProviderUnavailableError, True),
    "ServiceUnavailableException": (ProviderUnavailableError, True),
    "InternalServerException": (ProviderUnavailableError, True),
    "InternalFailure": (ProviderUnavailableError, True),
    "ModelStreamErrorException": (ProviderUnavailableError, True),
    "ModelErrorException": (ProviderUnavailableError, None),
    "ModelTimeoutException": (ProviderTimeoutError, True),
    "ValidationException": (InvalidRequestError, None),
    "SerializationException": (InvalidRequestError, None),
    "AccessDeniedException": (PermissionDeniedError, None),
    "ResourceNotFoundException": (ModelNotFoundError, None),
    "UnrecognizedClientException": (AuthenticationError, None),
    "InvalidSignatureException": (AuthenticationError, None),
    "IncompleteSignatureException": (AuthenticationError, None),
    "MissingAuthenticationTokenException": (AuthenticationError, None),
    "InvalidClientTokenId": (AuthenticationError, None),
    "ExpiredTokenException": (AuthenticationError, None),
    "SignatureDoesNotMatch": (AuthenticationError, None),
}
_CONTEXT = re.compile(
    r"input is too long|too many (input )?tokens|prompt is too long|context (length|window)"
    r"|maximum context|exceeds? the (maximum|max)[a-z ]* tokens|input tokens exceed",
    re.IGNORECASE,
)
_INVALID_MODEL = re.compile(
    r"model identifier is invalid|model (id|identifier)? ?(is )?not found|could not resolve the "
    r"foundation model|end of its life",
    re.IGNORECASE,
)


def converse_body(
    messages: list[Message],
    temperature: float | None,
    max_tokens: int | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """Build a Converse body: ``system`` blocks, merged turns, ``inferenceConfig``, extras.

    Consecutive messages of the same role become one message with several text blocks (Converse
    requires alternating roles for most models).

    Args:
        messages: Validated messages.
        temperature: ``inferenceConfig.temperature``, sent only when given.
        max_tokens: ``inferenceConfig.maxTokens``, sent only when given.
        kwargs: ``stop`` (→ ``stopSequences``), ``top_p`` (→ ``topP``), Converse top-level
            members (``toolConfig``, ``guardrailConfig``, ``performanceConfig``, …, merged
            ``inferenceConfig`` / ``additionalModelRequestFields``); anything else goes into
            ``additionalModelRequestFields``.

    Returns:
        The body.

    Raises:
        InvalidRequestError: There is no user or assistant message.
    """
    stop, top_p, rest = split_kwargs(kwargs)
    system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m["role"] == "system":
            continue
        if turns and turns[-1]["role"] == m["role"]:
            turns[-1]["content"].append({"text": m["content"]})
        else:
            turns.append({"role": m["role"], "content": [{"text": m["content"]}]})
    if not turns:
        raise InvalidRequestError("Bedrock needs at least one user or assistant message")
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference: dict[str, Any] = dict(rest.pop("inferenceConfig", None) or {})
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if temperature is not None:
        inference["temperature"] = temperature
    if top_p is not None:
        inference["topP"] = top_p
    if stop is not None:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else stop
    if inference:
        body["inferenceConfig"] = inference
    extra: dict[str, Any] = dict(rest.pop("additionalModelRequestFields", None) or {})
    for key in list(rest):
        if key in _TOP_LEVEL:
            body[key] = rest.pop(key)
    extra.update(rest)
    if extra:
        body["additionalModelRequestFields"] = extra
    return body


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


def parse_converse(data: Mapping[str, Any]) -> tuple[str, str, dict[str, int]]:
    """Read text, finish reason and usage from a Converse response.

    Args:
        data: The response JSON.

    Returns:
        ``(text, normalised finish reason, tokens)``.
    """
    message = (data.get("output") or {}).get("message") or {}
    text = "".join(
        block["text"]
        for block in message.get("content") or []
        if isinstance(block, dict) and isinstance(block.get("text"), str)
    )
    finish = _FINISH.get(data.get("stopReason") or "", "other")
    return text, finish, usage_tokens(data.get("usage") or {})


def error_code(headers: Mapping[str, str], payload: Any) -> str:
    """The AWS error code: ``x-amzn-ErrorType``, else the body's ``__type`` / ``code``.

    Like botocore, the code is cut at the first ``:`` and after any ``#``.

    Args:
        headers: The response headers.
        payload: The decoded body.

    Returns:
        The code, or ``""``.
    """
    raw = headers.get("x-amzn-errortype") or ""
    if not raw and isinstance(payload, dict):
        raw = str(payload.get("__type") or payload.get("code") or payload.get("Code") or "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def _message(payload: Any, status: int | None) -> str:
    if isinstance(payload, dict):
        for key in ("message", "Message", "errorMessage"):
            if isinstance(payload.get(key), str) and payload[key]:
                return str(payload[key])
    if isinstance(payload, str) and payload.strip():
        return payload.strip()[:500]
    return f"HTTP {status}" if status else "Bedrock stream error"


def classify_error(
    status: int | None, code: str, message: str
) -> tuple[type[ProviderError], bool | None]:
    """Classify a Bedrock error by its code, then its message, then its status.

    Args:
        status: The HTTP status, or ``None`` for an exception event inside a stream.
        code: The error code (``ThrottlingException``; stream events' lowerCamel names too).
        message: The error message.

    Returns:
        ``(class, is_retryable override or None)``.
    """
    code = code[:1].upper() + code[1:]
    cls: type[ProviderError]
    if code in _CODES:
        cls, retryable = _CODES[code]
    elif status is not None:
        cls, retryable = class_for_status(status), None
    else:
        cls, retryable = ProviderUnavailableError, None
    if cls is InvalidRequestError:
        if _CONTEXT.search(message):
            cls = ContextLengthExceededError
        elif _INVALID_MODEL.search(message):
            cls = ModelNotFoundError
    return cls, retryable


class BedrockProvider(BaseLLMProvider):
    """Adapter for AWS Bedrock's Converse API and its control plane (model discovery)."""

    config: BedrockConfig
    owned_fields = frozenset({"messages", "system", "modelId"})

    def __init__(self, name: str, config: ProviderConfig, http: AsyncClient) -> None:
        if not isinstance(config, BedrockConfig):
            raise ConfigurationError(f"providers.{name}: the bedrock type needs a BedrockConfig")
        super().__init__(name, config, http)
        self.auth = AWSAuth(name, config)

    @property
    def secrets(self) -> list[str]:
        """The configured secrets, plus credentials resolved from botocore's chain.

        Returns:
            The values to scrub from AWS's answers.
        """
        return [*super().secrets, *self.auth.secrets]

    async def runtime_url(self) -> str:
        """The runtime API root: ``endpoint_url`` or ``https://bedrock-runtime.{region}…``.

        Returns:
            The URL without a trailing slash.
        """
        if self.config.endpoint_url:
            return str(self.config.endpoint_url).rstrip("/")
        return f"https://bedrock-runtime.{await self.auth.region()}.amazonaws.com"

    async def control_url(self) -> str:
        """The control-plane root: ``control_endpoint_url`` or ``https://bedrock.{region}…``.

        Returns:
            The URL without a trailing slash.
        """
        if self.config.control_endpoint_url:
            return str(self.config.control_endpoint_url).rstrip("/")
        return f"https://bedrock.{await self.auth.region()}.amazonaws.com"

    def make_error(
        self,
        status: int | None,
        code: str,
        payload: Any,
        model: str | None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> ProviderError:
        """Build the mapped error for an error response or an in-stream exception event.

        Args:
            status: The HTTP status, or ``None`` inside a stream.
            code: The AWS error code.
            payload: The decoded error body.
            model: The model the request was for.
            headers: The response headers.
            request_id: The request id, when already known.

        Returns:
            The error to raise.
        """
        headers = headers or {}
        # AWS echoes signed headers (the session token) in InvalidSignatureException.
        payload = scrub(payload, self.secrets)
        message = _message(payload, status)
        cls, retryable = classify_error(status, code, message)
        text = f"{code}: {message}" if code else message
        return cls(
            text,
            provider=self.name,
            model=model,
            status_code=status,
            request_id=request_id or headers.get(REQUEST_ID_HEADER),
            retry_after=parse_retry_after(headers),
            is_retryable=retryable,
            body=payload,
        )

    def _error_from_response(self, response: Response, raw: bytes, model: str | None) -> Exception:
        try:
            payload: Any = json.loads(raw)
        except ValueError:
            # Scrubbed before it is cut: a cut must not leave half a secret behind.
            payload = scrub(raw.decode("utf-8", errors="replace"), self.secrets)[:2000]
        code = error_code(response.headers, payload)
        return self.make_error(response.status_code, code, payload, model, response.headers)

    async def _signed(
        self, method: str, url: str, body: bytes, extra: Mapping[str, str] | None = None
    ) -> tuple[str, dict[str, str], bytes]:
        base = {"content-type": "application/json"} if body else {}
        if extra:
            base.update(extra)  # signed with the rest
        headers = await self.auth.sign(method, url, body, base)
        headers.update(self.config.headers)
        return url, headers, body

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        model: str | None,
        options: CallOptions | None = None,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Send one signed request and return its JSON body and headers.

        The whole attempt, connect to last byte, ends within the timeout.

        Args:
            method: ``GET`` or ``POST``.
            url: The full URL (labels encoded, query in canonical form).
            body: The JSON body, for ``POST``.
            model: The model, for errors.
            options: The call's options (timeout, extra body and headers).

        Returns:
            ``(json body, response headers)``.

        Raises:
            ProviderError: Mapped from the error code, status and body, or from the transport.
        """
        options = options or CallOptions()
        body = options.apply(dict(body)) if body is not None and options.extra_body else body
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        url, headers, content = await self._signed(method, url, raw, options.extra_headers)
        response = await fetch(
            self.http,
            method,
            url,
            provider=self.name,
            model=model,
            timeout_s=options.timeout or self.config.timeout,
            headers=headers,
            content=content,
        )
        if response.status_code >= 400:
            raise self._error_from_response(response, response.content, model)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ProviderUnavailableError(
                f"response is not a JSON object (HTTP {response.status_code})",
                provider=self.name,
                model=model,
                status_code=response.status_code,
                request_id=response.headers.get(REQUEST_ID_HEADER),
                body=scrub(response.text, self.secrets)[:2000],
            )
        return data, response.headers

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one chat request (text only until this vendor's codec maps tools).

        Args:
            request: The typed request.

        Returns:
            The answer.
        """
        messages, model, temperature, max_tokens, kwargs = legacy_call(request, self.config.type)
        return await self._send_text(messages, model, temperature, max_tokens, **kwargs)

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat request (text only until this vendor's codec maps tools).

        Args:
            request: The typed request.

        Returns:
            The normalised events.
        """
        messages, model, temperature, max_tokens, kwargs = legacy_call(request, self.config.type)
        return self._stream_text(messages, model, temperature, max_tokens, **kwargs)

    async def _send_text(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        """Send one Converse request.

        Args:
            messages: Validated messages.
            model: A model id, inference-profile id or ARN.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            **kwargs: See :func:`converse_body`.

        Returns:
            The answer.

        Raises:
            ContentFilteredError: A guardrail or content filter blocked the answer and no text
                came back.
        """
        body = converse_body(messages, temperature, max_tokens, kwargs)
        url = f"{await self.runtime_url()}/model/{encode_label(model)}/converse"
        data, headers = await self.request_json(
            "POST", url, body=body, model=model, options=call_options(kwargs)
        )
        request_id = headers.get(REQUEST_ID_HEADER)
        if not (data.get("output") or data.get("stopReason")):
            raise not_an_answer(self.name, model, request_id, data)
        text, finish, tokens = parse_converse(data)
        if finish == "content_filter" and not text:
            raise ContentFilteredError(
                f"blocked by Bedrock ({data.get('stopReason')})",
                provider=self.name,
                model=model,
                status_code=200,
                request_id=request_id,
                body=data,
            )
        return LLMResponse(
            content=text,
            model=model,
            provider=self.name,
            tokens_used=tokens,
            finish_reason=finish,
            request_id=request_id,
            raw_response=data,
        )

    async def _stream_text(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one ConverseStream request.

        Args:
            messages: Validated messages.
            model: A model id, inference-profile id or ARN.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            **kwargs: See :func:`converse_body`.

        Yields:
            ``start``, ``text``, ``finish`` and ``usage`` events.
        """
        options = call_options(kwargs)
        body = options.apply(converse_body(messages, temperature, max_tokens, kwargs))
        url = f"{await self.runtime_url()}/model/{encode_label(model)}/converse-stream"
        raw = json.dumps(body, separators=(",", ":")).encode()
        url, headers, content = await self._signed("POST", url, raw, options.extra_headers)
        stream = await open_stream(
            self.http,
            "POST",
            url,
            provider=self.name,
            model=model,
            timeout_s=options.timeout or self.config.timeout,
            headers=headers,
            content=content,
        )
        try:
            response = stream.response
            if response.status_code >= 400:
                raise self._error_from_response(response, await stream.read(), model)
            request_id = response.headers.get(REQUEST_ID_HEADER)
            yield StreamEvent("start", request_id=request_id)
            events = decode_event_stream(stream, self, model, request_id)
            async with aclosing(events):
                async for event in events:
                    yield event
        finally:
            await stream.aclose()

    async def get_available_models(self) -> list[ModelInfo]:
        """List text models: on-demand ones by id, profile-only ones by their profile ids.

        Uses ListFoundationModels and the paginated ListInferenceProfiles on the control plane.
        Custom (fine-tuned) models are not listed; ``LEGACY`` models are marked deprecated.

        Returns:
            The models.
        """
        root = await self.control_url()
        query = encode_query({"byOutputModality": "TEXT"})
        data, _ = await self.request_json("GET", f"{root}/foundation-models?{query}", model=None)
        summaries = [s for s in data.get("modelSummaries") or [] if isinstance(s, dict)]
        models: list[ModelInfo] = []
        profile_only: dict[str, dict[str, Any]] = {}
        for summary in summaries:
            model_id = summary.get("modelId")
            if not isinstance(model_id, str) or not _is_text_base_model(summary):
                continue
            kinds = summary.get("inferenceTypesSupported") or []
            if "ON_DEMAND" in kinds:
                models.append(self._info(model_id, summary, summary))
            elif "INFERENCE_PROFILE" in kinds:
                profile_only[model_id] = summary
        if profile_only:
            for profile in await self._profiles(root):
                for model_id in _profile_models(profile):
                    if model_id in profile_only:
                        name = str(profile["inferenceProfileId"])
                        models.append(self._info(name, profile_only[model_id], profile))
                        break
        return models

    def _info(self, name: str, summary: Mapping[str, Any], raw: Mapping[str, Any]) -> ModelInfo:
        lifecycle = summary.get("modelLifecycle") or {}
        deprecated = isinstance(lifecycle, dict) and lifecycle.get("status") == "LEGACY"
        return ModelInfo(name=name, provider=self.name, deprecated=deprecated, raw=dict(raw))

    async def _profiles(self, root: str) -> list[dict[str, Any]]:
        """Every active system-defined inference profile, following ``nextToken``."""
        profiles: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"maxResults": 1000, "type": "SYSTEM_DEFINED", "nextToken": token}
            url = f"{root}/inference-profiles?{encode_query(params)}"
            try:
                data, _ = await self.request_json("GET", url, model=None)
            except PermissionDeniedError as exc:
                logger.warning(
                    "provider %r: cannot list inference profiles (%s); models that need one "
                    "are not listed",
                    self.name,
                    exc.message,
                )
                return profiles
            for profile in data.get("inferenceProfileSummaries") or []:
                if isinstance(profile, dict) and profile.get("status", "ACTIVE") == "ACTIVE":
                    if isinstance(profile.get("inferenceProfileId"), str):
                        profiles.append(profile)
            next_token = data.get("nextToken")
            if not isinstance(next_token, str) or not next_token or next_token == token:
                return profiles
            token = next_token


def _is_text_base_model(summary: Mapping[str, Any]) -> bool:
    arn = str(summary.get("modelArn") or "")
    return "TEXT" in (summary.get("outputModalities") or []) and "custom-model" not in arn


def _profile_models(profile: Mapping[str, Any]) -> list[str]:
    """The base model ids a profile routes to (from ``…:foundation-model/<id>`` ARNs)."""
    ids = []
    for entry in profile.get("models") or []:
        arn = entry.get("modelArn") if isinstance(entry, dict) else None
        if isinstance(arn, str) and "foundation-model/" in arn:
            ids.append(arn.split("foundation-model/", 1)[1])
    return ids


async def decode_event_stream(
    chunks: StreamBody | AsyncIterator[bytes],
    adapter: BedrockProvider,
    model: str,
    request_id: str | None,
) -> AsyncGenerator[StreamEvent, None]:
    """Decode a ConverseStream body (AWS event stream) into normalised events.

    Frames are parsed by ``botocore.eventstream.EventStreamBuffer`` (CRCs checked); unknown
    payload keys (e.g. the ``p`` padding field) are ignored. The answer is whole once both
    ``messageStop`` and ``metadata`` arrived; a body that ends before is a cut stream, and one
    without any Converse event is not an answer. Each decoded frame moves the body's deadline.

    Args:
        chunks: The raw body, in any split (a :class:`~llmorch._http.StreamBody` in use).
        adapter: The adapter, for mapped errors.
        model: The model the request was for.
        request_id: The stream's request id.

    Yields:
        ``text``, ``finish`` and ``usage`` events.

    Raises:
        ProviderError: An exception event arrived (mapped by its type), a frame was corrupt (bad
            CRC, bad lengths, duplicate headers) or its payload was not JSON, the stream ended
            inside a frame or before its terminal events, or it carried no Converse event.
    """
    from botocore.eventstream import EventStreamBuffer, ParserError

    buffer = EventStreamBuffer()
    fed = consumed = 0
    seen: set[str] = set()
    async for chunk in chunks:
        buffer.add_data(chunk)
        fed += len(chunk)
        while True:
            try:
                message = next(buffer)
            except StopIteration:
                break
            except ParserError as exc:
                raise ProviderUnavailableError(
                    f"corrupt event stream from Bedrock: {type(exc).__name__}: {exc}",
                    provider=adapter.name,
                    model=model,
                    request_id=request_id,
                ) from None
            consumed += cast("MessagePrelude", message.prelude).total_length
            if isinstance(chunks, StreamBody):
                chunks.event()
            headers = cast("dict[str, Any]", message.headers)
            seen.add(str(headers.get(":event-type")))
            for event in _stream_event(message, adapter, model, request_id):
                yield event
    if fed != consumed:
        raise ProviderUnavailableError(
            f"Bedrock event stream ended inside a frame ({fed - consumed} bytes left over)",
            provider=adapter.name,
            model=model,
            request_id=request_id,
        )
    started = bool(seen & _CONVERSE_EVENTS)
    end_of_stream(started, _TERMINAL <= seen, adapter.name, model, request_id)


_CONVERSE_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop"}
    | {"messageStop", "metadata"}
)
_TERMINAL = frozenset({"messageStop", "metadata"})


def _stream_event(
    message: EventStreamMessage, adapter: BedrockProvider, model: str, request_id: str | None
) -> list[StreamEvent]:
    # botocore-stubs types ``headers`` (and ``prelude``) as int; they are a dict (and a prelude).
    headers, payload = cast("dict[str, Any]", message.headers), message.payload
    kind = headers.get(":message-type")
    if kind == "error":
        code = str(headers.get(":error-code") or "")
        body: Any = {"message": str(headers.get(":error-message") or "")}
        raise adapter.make_error(None, code, body, model, request_id=request_id)
    if kind == "exception":
        code = str(headers.get(":exception-type") or "")
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            body = scrub(payload.decode("utf-8", errors="replace"), adapter.secrets)[:2000]
        raise adapter.make_error(None, code, body, model, request_id=request_id)
    if kind != "event":
        return []
    name = headers.get(":event-type")
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        raise ProviderUnavailableError(
            f"malformed stream event {name!r}: {payload[:200]!r}",
            provider=adapter.name,
            model=model,
            request_id=request_id,
        ) from None
    if not isinstance(data, dict):
        return []
    if name == "contentBlockDelta":
        text = (data.get("delta") or {}).get("text")
        return [StreamEvent("text", text=text)] if isinstance(text, str) and text else []
    if name == "messageStop":
        reason = str(data.get("stopReason") or "")
        return [StreamEvent("finish", finish_reason=_FINISH.get(reason, "other"))]
    if name == "metadata":
        return [StreamEvent("usage", tokens=usage_tokens(data.get("usage") or {}), raw=data)]
    return []
