"""AWS Bedrock Converse / ConverseStream over raw HTTP (``type: bedrock``): the I/O shell.

One body mapping serves every model family Converse supports (Claude, Nova, gpt-oss, Llama,
Mistral, …); it lives in :mod:`llmorch.providers._converse` (sans I/O). This module signs
requests with botocore's SigV4 signer (or a Bedrock API key), sends them, reads answers and
AWS event streams (``botocore.eventstream``), and lists models. Errors are classified by
``x-amzn-ErrorType``, not by status alone (a 429 can be throttling or a model not ready yet).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

from llmorch._http import (
    AsyncClient,
    Head,
    StreamBody,
    fetch,
    open_stream,
    parse_retry_after,
)
from llmorch._scrub import scrub
from llmorch.config import BedrockConfig, ProviderConfig
from llmorch.exceptions import (
    ConfigurationError,
    ContentFilteredError,
    InvalidRequestError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
)
from llmorch.providers._aws import AWSAuth, encode_label, encode_query
from llmorch.providers._common import end_of_stream, not_an_answer
from llmorch.providers._converse import (
    ConverseStreamDecoder,
    decode_response,
    encode_request,
    reasoning_text,
    same_family,
)
from llmorch.providers._converse_errors import (
    classify_error,
    error_code,
    error_message,
    unsupported_parameter,
)
from llmorch.providers.base import BaseLLMProvider
from llmorch.request import NO_OPTIONS, CallOptions, ChatRequest
from llmorch.types import LLMResponse, ModelInfo, StreamEvent

if TYPE_CHECKING:
    from botocore.eventstream import MessagePrelude

__all__ = ["BedrockProvider", "decode_event_stream", "same_family"]

logger = logging.getLogger("llmorch")

REQUEST_ID_HEADER = "x-amzn-requestid"


class BedrockProvider(BaseLLMProvider):
    """Adapter for AWS Bedrock's Converse API and its control plane (model discovery)."""

    config: BedrockConfig
    owned_fields = frozenset({"messages", "system", "modelId", "toolConfig", "outputConfig"})

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
        message = error_message(payload, status)
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

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        """The parameter a Bedrock 400 says the model does not take.

        Claude's relayed "`temperature` is deprecated for this model" and Bedrock's own "This
        model doesn't support the topP field" (``_converse_errors.unsupported_parameter``).

        Args:
            error: The mapped 400.

        Returns:
            ``temperature``, ``top_p``, ``top_k`` or ``stop``, or ``None``.
        """
        return unsupported_parameter(error_message(error.body, error.status_code))

    def _error_from_response(self, response: Head, raw: bytes, model: str | None) -> Exception:
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
        raw: bytes = b"",
        model: str | None,
        options: CallOptions = NO_OPTIONS,
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """Send one signed request and return its JSON body and headers.

        The whole attempt, connect to last byte, ends within the timeout.

        Args:
            method: ``GET`` or ``POST``.
            url: The full URL (labels encoded, query in canonical form).
            raw: The encoded JSON body, for ``POST``.
            model: The model, for errors.
            options: The call's options (timeout, extra headers).

        Returns:
            ``(json body, response headers)``.

        Raises:
            ProviderError: Mapped from the error code, status and body, or from the transport.
        """
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

    def _body(self, request: ChatRequest) -> bytes:
        body = request.options.apply(encode_request(request, self.config.type))
        return json.dumps(body, separators=(",", ":")).encode()

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one Converse request.

        Args:
            request: The typed request (``request.model``: a model id, profile id or ARN).

        Returns:
            The answer: text, tool calls, reasoning and its state, usage.

        Raises:
            InvalidRequestError: What the model cannot take (before any network call).
            ContentFilteredError: A guardrail or content filter blocked the answer and no text
                came back.
        """
        model = request.model
        raw = self._body(request)
        url = f"{await self.runtime_url()}/model/{encode_label(model)}/converse"
        data, headers = await self.request_json(
            "POST", url, raw=raw, model=model, options=request.options
        )
        request_id = headers.get(REQUEST_ID_HEADER)
        if not (data.get("output") or data.get("stopReason")):
            raise not_an_answer(self.name, model, request_id, data)
        text, finish, tokens, calls, items = decode_response(data)
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
            tool_calls=calls,
            reasoning=reasoning_text(items),
            reasoning_items=items,
        )

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one ConverseStream request.

        The body is built (and refused, when the model cannot take it) before this returns.

        Args:
            request: The typed request.

        Returns:
            ``start``, ``text``, ``reasoning``, ``tool_start`` / ``tool_delta`` / ``tool_end``,
            ``usage`` and ``finish`` events.
        """
        return self._stream(request.model, self._body(request), request.options)

    async def _stream(
        self, model: str, raw: bytes, options: CallOptions
    ) -> AsyncGenerator[StreamEvent, None]:
        url = f"{await self.runtime_url()}/model/{encode_label(model)}/converse-stream"
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

    Frames are parsed by ``botocore.eventstream.EventStreamBuffer`` (CRCs checked), then by
    :class:`~llmorch.providers._converse.ConverseStreamDecoder`; unknown payload keys (e.g. the
    ``p`` padding field) are ignored. The answer is whole once both ``messageStop`` and
    ``metadata`` arrived; a body that ends before is a cut stream, and one without any Converse
    event is not an answer. Each decoded frame moves the body's deadline.

    Args:
        chunks: The raw body, in any split (a :class:`~llmorch._http.StreamBody` in use).
        adapter: The adapter, for mapped errors.
        model: The model the request was for.
        request_id: The stream's request id.

    Yields:
        ``text``, ``reasoning``, ``tool_*``, ``usage`` and ``finish`` events.

    Raises:
        ProviderError: An exception event arrived (mapped by its type), a frame was corrupt (bad
            CRC, bad lengths, duplicate headers) or its payload was not JSON, the stream ended
            inside a frame or before its terminal events, or it carried no Converse event.
    """
    from botocore.eventstream import EventStreamBuffer, ParserError

    def fault(code: str, body: Any) -> Exception:
        if isinstance(body, str):
            body = scrub(body, adapter.secrets)[:2000]
        return adapter.make_error(None, code, body, model, request_id=request_id)

    def malformed(name: str, payload: bytes) -> Exception:
        return ProviderUnavailableError(
            f"malformed stream event {name!r}: {payload[:200]!r}",
            provider=adapter.name,
            model=model,
            request_id=request_id,
        )

    decode = ConverseStreamDecoder(fault, malformed)
    buffer = EventStreamBuffer()
    fed = consumed = 0
    body = chunks if isinstance(chunks, StreamBody) else None
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
            if body is not None:
                body.event()
            for event in decode(message):
                yield event
    if fed != consumed:
        raise ProviderUnavailableError(
            f"Bedrock event stream ended inside a frame ({fed - consumed} bytes left over)",
            provider=adapter.name,
            model=model,
            request_id=request_id,
        )
    end_of_stream(decode.started, decode.complete, adapter.name, model, request_id)
