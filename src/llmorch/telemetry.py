"""OpenTelemetry for every call (SPEC §2.12): GenAI spans and metrics, and trace ids on logs.

llmorch follows the GenAI conventions of **OpenTelemetry Semantic Conventions v1.41.0**
(:data:`SEMCONV_VERSION`; status *Development*, the last release before the GenAI conventions
moved to their own repository). Each call down a fallback chain is one ``chat {model}`` span
(kind ``CLIENT``) with one child span per attempt (``attempt {model}``, kind ``INTERNAL``: each
model of the chain and each retry), and three instruments: ``gen_ai.client.operation.duration``,
``gen_ai.client.token.usage`` and ``llmorch.client.cost``. The attributes are listed in
``docs/observability.md``.

Nothing here imports OpenTelemetry when :mod:`llmorch` is imported. With
``observability.enabled`` (the default), spans and metrics go out once the application has
imported ``opentelemetry`` (it must, to configure an SDK): until then, and without the package,
llmorch does nothing at all, not even try the import. They go through the global providers, or
through those given to :func:`configure`.

Message contents are recorded only with ``observability.capture_content: true``. No attribute
ever carries a credential: headers and URLs are never recorded (``server.address`` is the host
name alone), and error descriptions are llmorch's own, already scrubbed, messages.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmorch.exceptions import ConfigurationError, OrchestratorError, ProviderError

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.metrics import Counter, Histogram, MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from llmorch.config import ObservabilityConfig, ProviderConfig
    from llmorch.messages import ChatMessage
    from llmorch.request import ChatRequest
    from llmorch.tools import ToolCall
    from llmorch.types import LLMResponse

__all__ = ["PROVIDER_NAMES", "SEMCONV_VERSION", "TraceContextFilter", "configure"]

SEMCONV_VERSION = "1.41.0"
"""The OpenTelemetry Semantic Conventions release whose GenAI conventions llmorch follows."""
_SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
PROVIDER_NAMES: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
}
"""``gen_ai.provider.name`` by provider type (a custom provider type reports its config name)."""
_DEFAULT_HOSTS = {
    "openai": "api.openai.com",
    "anthropic": "api.anthropic.com",
    "gemini": "generativelanguage.googleapis.com",
}
# The conventions' advisory bucket boundaries (seconds, and tokens).
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                     40.96, 81.92)  # fmt: skip
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                  16777216, 67108864)  # fmt: skip
_TRACE = "opentelemetry.trace"  # in sys.modules once the application imported OpenTelemetry
_INSTALL = "pip install 'llmorch[otel]'"
_TOKEN_ATTRIBUTES = (
    ("prompt", "gen_ai.usage.input_tokens"),
    ("completion", "gen_ai.usage.output_tokens"),
    ("cache_read", "gen_ai.usage.cache_read.input_tokens"),
    ("cache_write", "gen_ai.usage.cache_creation.input_tokens"),
    ("reasoning", "gen_ai.usage.reasoning.output_tokens"),
)

_providers: tuple[TracerProvider | None, MeterProvider | None] = (None, None)
_instruments: _Instruments | None = None
_live = False  # a global provider other than the API's placeholders was seen (set once, kept)
_filtered: set[str] = set()  # the loggers TraceContextFilter was added to
_loggers_seen = 0  # how many loggers existed when they were last looked at
_current: contextvars.ContextVar[CallTrace | None] = contextvars.ContextVar(
    "llmorch_call", default=None
)


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Send llmorch's spans and metrics to these providers instead of the global ones.

    OpenTelemetry's global providers can be set once per process; this lets tests and apps
    that keep their own providers use them. Calling it with no argument goes back to the
    global providers. It applies to every orchestrator, from its next call on.

    Args:
        tracer_provider: An ``opentelemetry.trace.TracerProvider`` (``None``: the global one).
        meter_provider: An ``opentelemetry.metrics.MeterProvider`` (``None``: the global one).
    """
    global _providers, _instruments
    _providers = (tracer_provider, meter_provider)
    _instruments = None


class _Instruments:
    """The tracer and the three instruments, made once per :func:`configure`."""

    __slots__ = ("context", "cost", "duration", "trace", "tokens", "tracer")

    def __init__(
        self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None
    ) -> None:
        from opentelemetry import context, metrics, trace

        from llmorch import __version__

        self.context = context
        self.trace = trace
        self.tracer: Tracer = trace.get_tracer(
            "llmorch", __version__, tracer_provider, schema_url=_SCHEMA_URL
        )
        instruments = metrics.get_meter(
            "llmorch", __version__, meter_provider, schema_url=_SCHEMA_URL
        )
        self.duration: Histogram = instruments.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tokens: Histogram = instruments.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.cost: Counter = instruments.create_counter(
            "llmorch.client.cost",
            unit="USD",
            description="Cost of GenAI calls, as recorded in llmorch's ledger.",
        )


def _recording() -> bool:
    """Whether anything would record llmorch's spans or metrics.

    Not while both global providers are still the API's placeholders (no SDK configured, and
    no provider passed to :func:`configure`): then every span and measurement would be the
    API's no-op, so a call skips making them. A global provider, once set, stays for the
    process, so the answer is kept once it is yes.
    """
    global _live
    if _live or _providers != (None, None):
        return True
    from opentelemetry import metrics, trace

    tracer = trace.get_tracer_provider()
    meter = metrics.get_meter_provider()
    idle_tracer = isinstance(tracer, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    # The API's placeholder meter provider is private; an unknown class counts as recording.
    idle_meter = isinstance(meter, metrics.NoOpMeterProvider) or (
        type(meter).__name__ == "_ProxyMeterProvider"
    )
    _live = not (idle_tracer and idle_meter)
    return _live


def _tools() -> _Instruments:
    global _instruments
    if _instruments is None:
        _instruments = _Instruments(*_providers)
    return _instruments


# --------------------------------------------------------------------------- logging


class TraceContextFilter(logging.Filter):
    """Adds ``trace_id`` and ``span_id`` to each record: the active span's, in hex, or ``""``.

    llmorch adds it to its own ``llmorch`` loggers when it first traces a call; add it to a
    handler to give every record the two fields (then ``%(trace_id)s`` works in any format
    string). It never imports OpenTelemetry: without it, both fields are ``""``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the two fields (unless the record has them already).

        Args:
            record: The log record.

        Returns:
            Always True: the filter only annotates.
        """
        if hasattr(record, "trace_id"):
            return True
        trace_id = span_id = ""
        trace = sys.modules.get(_TRACE)
        if trace is not None:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                trace_id = format(context.trace_id, "032x")
                span_id = format(context.span_id, "016x")
        record.trace_id = trace_id
        record.span_id = span_id
        return True


_FILTER = TraceContextFilter()


def _filter_llmorch_loggers() -> None:
    """Add the filter to ``llmorch`` and each ``llmorch.*`` logger that exists (once each)."""
    global _loggers_seen
    loggers = logging.Logger.manager.loggerDict
    if len(loggers) == _loggers_seen:  # the common case: nothing new since the last call
        return
    _loggers_seen = len(loggers)
    names = [name for name in list(loggers) if name.startswith("llmorch.")]
    for name in ("llmorch", *names):
        if name not in _filtered:
            _filtered.add(name)
            logging.getLogger(name).addFilter(_FILTER)


# --------------------------------------------------------------------------- per provider


@dataclass(frozen=True)
class _Provider:
    """What every span and metric of one configured provider carries."""

    name: str
    attributes: dict[str, Any]  # gen_ai.provider.name, server.address, server.port


def _server(config: ProviderConfig) -> tuple[str | None, int | None]:
    """The API host and port a provider talks to (never the URL: userinfo is a secret)."""
    kind = config.type
    url = getattr(config, "endpoint_url", None) or config.base_url
    if url:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None:
            port = 80 if parts.scheme == "http" else 443
        return parts.hostname, port
    if kind == "vertex":
        location = getattr(config, "location", "us-central1")
        if location == "global":
            return "aiplatform.googleapis.com", 443
        if location in ("us", "eu"):
            return f"aiplatform.{location}.rep.googleapis.com", 443
        return f"{location}-aiplatform.googleapis.com", 443
    if kind == "bedrock":
        region = (
            getattr(config, "region_name", None)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        return (f"bedrock-runtime.{region}.amazonaws.com", 443) if region else (None, None)
    host = _DEFAULT_HOSTS.get(kind)
    return (host, 443) if host else (None, None)


def _provider(name: str, config: ProviderConfig) -> _Provider:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDER_NAMES.get(config.type, name),
    }
    host, port = _server(config)
    if host:
        attributes["server.address"] = host
        if port is not None:
            attributes["server.port"] = port
    return _Provider(name, attributes)


# --------------------------------------------------------------------------- the switch


class Telemetry:
    """One orchestrator's tracing switch (SPEC §2.12).

    Args:
        config: The ``observability`` section.
        providers: The configured providers, by name.

    Raises:
        ConfigurationError: ``observability.enabled: true`` was set explicitly and
            ``opentelemetry-api`` is not installed.
    """

    __slots__ = ("_known", "_providers", "capture_content", "enabled")

    def __init__(
        self, config: ObservabilityConfig, providers: Mapping[str, ProviderConfig]
    ) -> None:
        self.enabled = config.enabled
        self.capture_content = config.capture_content
        self._providers = providers
        self._known: dict[str, _Provider] = {}
        if config.enabled and "enabled" in config.model_fields_set:
            try:  # asked for in so many words: then it must work
                import opentelemetry.metrics
                import opentelemetry.trace  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    "observability.enabled is true but opentelemetry-api is not installed: "
                    f"{_INSTALL} (or leave `enabled` out: tracing then starts when the "
                    "application imports OpenTelemetry)"
                ) from None

    def call(
        self, request: ChatRequest, provider: str, *, stream: bool = False
    ) -> CallTrace | _Off:
        """The trace of one call down a chain (a no-op one when tracing is off).

        Use it as a context manager around the chain; a stream's span goes on after the block
        until :meth:`CallTrace.ended`.

        Args:
            request: The call's request (its ``model`` is the chain's first).
            provider: The configured provider name.
            stream: Whether the call streams.

        Returns:
            The call's trace.
        """
        if not self.enabled or _TRACE not in sys.modules:
            return OFF
        if not _recording():
            _filter_llmorch_loggers()  # log records still carry the application's span ids
            return OFF
        known = self._known.get(provider)
        if known is None:
            known = self._known[provider] = _provider(provider, self._providers[provider])
        return CallTrace(_tools(), known, request, stream, self.capture_content)

    def attempt(self, model: str, retry: int) -> _Attempt | _Off:
        """The span of one attempt of the call being traced in this context.

        Args:
            model: The attempt's model.
            retry: 0 for the model's first try, then 1, 2, ...

        Returns:
            A context manager (a no-op one when no call is traced).
        """
        if not self.enabled:
            return OFF
        call = _current.get()
        if call is None:
            return OFF
        return _Attempt(call, model, retry)


# --------------------------------------------------------------------------- one call


def _error_type(exc: BaseException) -> str:
    return type(exc).__name__


def _description(exc: BaseException) -> str:
    """Use llmorch's own messages, scrubbed of secrets (SPEC §2.8); anything else: its type."""
    if isinstance(exc, OrchestratorError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


class CallTrace:
    """The ``chat {model}`` span of one call, and its metrics.

    Entering it starts the span (the first time) and makes it current; leaving it with an
    exception ends it as an error. A non-streamed call ends when the block ends (call
    :meth:`answered` inside it); a stream's span ends at :meth:`ended`.
    """

    __slots__ = (
        "_attempts",
        "_call_token",
        "_capture",
        "_context_token",
        "_ended",
        "_metric",
        "_provider",
        "_request",
        "_span",
        "_started",
        "_stream",
        "_tools",
    )

    def __init__(
        self,
        tools: _Instruments,
        provider: _Provider,
        request: ChatRequest,
        stream: bool,
        capture: bool,
    ) -> None:
        self._tools = tools
        self._provider = provider
        self._request = request
        self._stream = stream
        self._capture = capture
        self._span: Span | None = None
        self._started = 0.0
        self._attempts = 0
        self._metric: dict[str, Any] = {
            **provider.attributes,
            "gen_ai.request.model": request.model,
        }
        self._ended = False
        self._context_token: contextvars.Token[Context] | None = None
        self._call_token: contextvars.Token[CallTrace | None] | None = None

    def __enter__(self) -> CallTrace:
        span = self._span
        if span is None:
            _filter_llmorch_loggers()
            span = self._span = self._tools.tracer.start_span(
                f"chat {self._request.model}",
                kind=self._tools.trace.SpanKind.CLIENT,
                attributes=self._request_attributes(),
            )
            self._started = time.perf_counter()
        tools = self._tools
        self._context_token = tools.context.attach(tools.trace.set_span_in_context(span))
        self._call_token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token, call_token = self._span, self._context_token, self._call_token
        assert span is not None and token is not None and call_token is not None
        _current.reset(call_token)
        self._tools.context.detach(token)
        if exc is not None:
            self._fail(span, exc)
        elif self._stream:
            span.set_attribute(
                "gen_ai.response.time_to_first_chunk", time.perf_counter() - self._started
            )
        else:
            span.end()

    def _request_attributes(self) -> dict[str, Any]:
        request = self._request
        attributes = {**self._metric, "llmorch.provider": self._provider.name}
        if self._stream:
            attributes["gen_ai.request.stream"] = True
        sampling = (
            ("gen_ai.request.max_tokens", request.max_tokens),
            ("gen_ai.request.temperature", request.temperature),
            ("gen_ai.request.top_p", request.top_p),
            ("gen_ai.request.seed", request.seed),
        )
        attributes.update({key: value for key, value in sampling if value is not None})
        if request.top_k is not None:
            attributes["gen_ai.request.top_k"] = float(request.top_k)  # a double in v1.41.0
        if request.stop:
            attributes["gen_ai.request.stop_sequences"] = list(request.stop)
        if request.response_format is not None:
            attributes["gen_ai.output.type"] = "json"
        if request.reasoning is not None and request.reasoning.effort is not None:
            attributes["llmorch.request.reasoning.effort"] = request.reasoning.effort
        if request.tools:
            attributes["llmorch.request.tools"] = [tool.name for tool in request.tools]
        if self._capture:
            attributes["gen_ai.input.messages"] = _dumps(
                [_input_message(message) for message in request.messages]
            )
            if request.tools:
                attributes["gen_ai.tool.definitions"] = _dumps(
                    [
                        {
                            "type": "function",
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": dict(tool.parameters),
                        }
                        for tool in request.tools
                    ]
                )
        return attributes

    def attempted(self) -> int:
        """Count one more attempt.

        Returns:
            Its number (1 for the first).
        """
        self._attempts += 1
        return self._attempts

    def answered(self, response: LLMResponse) -> None:
        """Record a non-streamed call's answer: the response attributes and the metrics.

        Args:
            response: The recorded response (``cost`` set).
        """
        span = self._span
        assert span is not None
        span.set_attributes(self._response_attributes(response))
        self._record(response, None)

    def ended(self, response: LLMResponse, complete: bool, error: BaseException | None) -> None:
        """End a stream's span: exhausted, closed early, cancelled or broken.

        A broken stream (``error`` an :class:`Exception`) is an error; a stream its consumer
        stopped (closed, cancelled, collected) is not, and ``llmorch.stream.outcome`` says
        which. Tokens and cost are recorded either way, as the ledger records them.

        Args:
            response: The recorded response.
            complete: Whether the stream ran to its end.
            error: What broke or cancelled it, if anything.
        """
        span = self._span
        if span is None or self._ended:
            return
        self._ended = True
        attributes = self._response_attributes(response)
        broken = isinstance(error, Exception)
        if complete:
            attributes["llmorch.stream.outcome"] = "exhausted"
        elif broken:
            attributes["llmorch.stream.outcome"] = "broken"
        elif error is not None:
            attributes["llmorch.stream.outcome"] = "cancelled"
        else:
            attributes["llmorch.stream.outcome"] = "closed"
        span.set_attributes(attributes)
        if broken:
            assert error is not None
            self._set_error(span, error)
        self._record(response, _error_type(error) if broken and error is not None else None)
        span.end()

    def _response_attributes(self, response: LLMResponse) -> dict[str, Any]:
        answered = response.model_answered or response.model
        attributes: dict[str, Any] = {
            "gen_ai.response.model": answered,
            "llmorch.model": response.model,
            "llmorch.cost_usd": response.cost,
            "llmorch.attempts": self._attempts,
        }
        raw = response.raw_response
        completion_id = None
        if isinstance(raw, dict):
            found = raw.get("id") or raw.get("responseId")
            completion_id = found if isinstance(found, str) else None
        if completion_id or response.request_id:
            attributes["gen_ai.response.id"] = completion_id or response.request_id
        if response.request_id:
            attributes["llmorch.request_id"] = response.request_id
        if response.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
        tokens = response.tokens_used
        for key, name in _TOKEN_ATTRIBUTES:
            value = tokens.get(key)
            if value is not None:
                attributes[name] = value
        if response.tool_calls:
            attributes["llmorch.response.tool_calls"] = len(response.tool_calls)
            attributes["llmorch.response.tool_names"] = [c.name for c in response.tool_calls]
        if self._capture:
            attributes["gen_ai.output.messages"] = _dumps([_output_message(response)])
        return attributes

    def _record(self, response: LLMResponse, error_type: str | None) -> None:
        """The three metrics of a call that produced a response."""
        assert self._span is not None
        metric = {
            **self._metric,
            "gen_ai.response.model": response.model_answered or response.model,
        }
        tools = self._tools
        if error_type is None:
            tools.duration.record(time.perf_counter() - self._started, metric)
        else:
            tools.duration.record(
                time.perf_counter() - self._started, {**metric, "error.type": error_type}
            )
        tokens = response.tokens_used
        tools.tokens.record(tokens["prompt"], {**metric, "gen_ai.token.type": "input"})
        tools.tokens.record(tokens["completion"], {**metric, "gen_ai.token.type": "output"})
        tools.cost.add(response.cost, metric)

    def _set_error(self, span: Span, exc: BaseException) -> None:
        span.set_attribute("error.type", _error_type(exc))
        span.set_status(self._tools.trace.StatusCode.ERROR, _description(exc))

    def _fail(self, span: Span, exc: BaseException) -> None:
        """The call ended without an answer: an error (a cancelled call too)."""
        self._set_error(span, exc)
        span.set_attribute("llmorch.attempts", self._attempts)
        self._tools.duration.record(
            time.perf_counter() - self._started, {**self._metric, "error.type": _error_type(exc)}
        )
        span.end()


class _Attempt:
    """The ``attempt {model}`` span: one try of one model, a child of the call's span."""

    __slots__ = ("_call", "_model", "_retry", "_span", "_token")

    def __init__(self, call: CallTrace, model: str, retry: int) -> None:
        self._call = call
        self._model = model
        self._retry = retry
        self._span: Span | None = None
        self._token: contextvars.Token[Context] | None = None

    def __enter__(self) -> _Attempt:
        call = self._call
        tools = call._tools
        self._span = span = tools.tracer.start_span(
            f"attempt {self._model}",
            kind=tools.trace.SpanKind.INTERNAL,
            attributes={
                "llmorch.provider": call._provider.name,
                "llmorch.attempt.model": self._model,
                "llmorch.attempt.number": call.attempted(),
                "llmorch.attempt.retry": self._retry,
            },
        )
        self._token = tools.context.attach(tools.trace.set_span_in_context(span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._span, self._token
        assert span is not None and token is not None
        self._call._tools.context.detach(token)
        if exc is not None:
            if isinstance(exc, ProviderError) and exc.status_code is not None:
                span.set_attribute("http.response.status_code", exc.status_code)
            self._call._set_error(span, exc)
        span.end()


class _Off:
    """Tracing is off: every hook does nothing (one shared instance, no allocation)."""

    __slots__ = ()

    def __enter__(self) -> _Off:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def answered(self, response: LLMResponse) -> None:
        """Nothing to record."""

    def ended(self, response: LLMResponse, complete: bool, error: BaseException | None) -> None:
        """Nothing to end."""


OFF = _Off()
"""The no-op trace, returned whenever tracing is off."""


# --------------------------------------------------------------------------- contents


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _input_message(message: ChatMessage) -> dict[str, Any]:
    """One turn in the conventions' input-message shape (binary data is never recorded)."""
    from llmorch.parts import DocumentPart, ImagePart, TextPart

    parts: list[dict[str, Any]] = [
        {"type": "reasoning", "content": item.text}
        for item in message.reasoning
        if item.text and not item.redacted
    ]
    for part in message.parts:
        if isinstance(part, TextPart):
            if message.role == "tool":
                parts.append(
                    {
                        "type": "tool_call_response",
                        "id": message.tool_call_id,
                        "response": part.text,
                    }
                )
            else:
                parts.append({"type": "text", "content": part.text})
        elif isinstance(part, ImagePart):
            if part.url is not None:
                parts.append({"type": "uri", "modality": "image", "uri": part.url})
            else:
                parts.append({"type": "blob", "modality": "image", "mime_type": part.media_type})
        elif isinstance(part, DocumentPart):
            parts.append({"type": "blob", "mime_type": part.media_type})
    parts.extend(_tool_call(call) for call in message.tool_calls)
    return {"role": message.role, "parts": parts}


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}


def _output_message(response: LLMResponse) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "content": response.reasoning})
    if response.content:
        parts.append({"type": "text", "content": response.content})
    parts.extend(_tool_call(call) for call in response.tool_calls)
    reason = response.finish_reason or "stop"
    return {
        "role": "assistant",
        "parts": parts,
        "finish_reason": "tool_call" if reason == "tool_calls" else reason,
    }
