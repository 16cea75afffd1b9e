"""Streams: the I/O-free accumulator and the :class:`ResponseStream` callers iterate."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio

from llmorch.exceptions import OrchestratorError, ProviderError, StreamInterruptedError
from llmorch.types import LLMResponse, StreamEvent

__all__ = ["OpenedStream", "ResponseStream", "StreamAccumulator"]

logger = logging.getLogger("llmorch")


class StreamAccumulator:
    """Folds normalised stream events into text, usage and metadata. Does no I/O.

    Attributes:
        tokens: The latest usage the provider reported, or ``None``.
        finish_reason: The normalised finish reason, once known.
        request_id: The vendor's request id, if any.
        model_answered: The model id the vendor echoed, if any.
        raw: The last event payload worth keeping as ``raw_response``.
    """

    __slots__ = ("_parts", "finish_reason", "model_answered", "raw", "request_id", "tokens")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.tokens: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.request_id: str | None = None
        self.model_answered: str | None = None
        self.raw: dict[str, Any] | None = None

    def add(self, event: StreamEvent) -> str:
        """Take one event.

        Args:
            event: The adapter's event.

        Returns:
            The text it carries ("" when none).
        """
        if event.kind == "text":  # the hot path: text events carry nothing else
            self._parts.append(event.text)
            return event.text
        if event.request_id:
            self.request_id = event.request_id
        if event.model_answered:
            self.model_answered = event.model_answered
        if event.raw is not None:
            self.raw = event.raw
        if event.kind == "usage":
            self.tokens = event.tokens
        elif event.kind == "finish":
            self.finish_reason = event.finish_reason
        return ""

    @property
    def text(self) -> str:
        """All text received so far."""
        return "".join(self._parts)


@dataclass
class OpenedStream:
    """One stream attempt that produced its first chunk (or ended without text).

    Attributes:
        provider: The configured provider name.
        model: The model id from the chain.
        events: The adapter's event iterator, positioned after ``pending``.
        accumulator: What has been folded in so far.
        pending: Text received but not yet handed to the caller.
        started: ``time.perf_counter()`` when the attempt was sent.
        attempts: The failed attempts before this one.
        exhausted: True when the adapter's stream already ended.
    """

    provider: str
    model: str
    events: AsyncIterator[StreamEvent]
    accumulator: StreamAccumulator
    pending: list[str]
    started: float
    attempts: list[tuple[str, OrchestratorError]] = field(default_factory=list)
    exhausted: bool = False


class ResponseStream:
    """An async iterator of text chunks, and an async context manager.

    Opening (the first ``__anext__`` or ``__aenter__``) runs the fallback chain until a model
    produces its first chunk. After that, a failure raises
    :class:`~llmorch.exceptions.StreamInterruptedError`. Once the stream is exhausted,
    :attr:`response` holds the full :class:`~llmorch.types.LLMResponse`. Closing early,
    cancelling, or losing the connection releases it and still records the call.
    """

    def __init__(
        self,
        opener: Callable[[], Awaitable[OpenedStream]],
        finish: Callable[[OpenedStream, bool], LLMResponse],
    ) -> None:
        self._opener = opener
        self._finish = finish
        self._opened: OpenedStream | None = None
        self._response: LLMResponse | None = None
        self._closed = False
        self._on_complete: list[Callable[[LLMResponse], None]] = []
        self._on_end: list[Callable[[LLMResponse, bool], None]] = []

    @property
    def response(self) -> LLMResponse:
        """The full response, once the stream has ended (exhausted, closed or broken).

        Raises:
            RuntimeError: The stream has not ended yet.
        """
        if self._response is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self._response

    def add_done_callback(self, callback: Callable[[LLMResponse], None]) -> None:
        """Call ``callback(response)`` when the stream is exhausted normally (not when cut).

        Args:
            callback: A sync function.
        """
        self._on_complete.append(callback)

    def add_end_callback(self, callback: Callable[[LLMResponse, bool], None]) -> None:
        """Call ``callback(response, complete)`` once when the stream ends in any way.

        Exhausted, closed early, broken, cancelled or collected unfinished: whenever the call is
        recorded. ``complete`` is False when it was cut short.

        Args:
            callback: A sync function.
        """
        self._on_end.append(callback)

    async def _open(self) -> OpenedStream:
        if self._opened is None:
            if self._closed:
                raise RuntimeError("the stream is closed")
            self._opened = await self._opener()
        return self._opened

    async def __aenter__(self) -> ResponseStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        opened = await self._open()
        if opened.pending:
            return opened.pending.pop(0)
        if opened.exhausted:
            self._end(opened, complete=True)
            raise StopAsyncIteration
        try:
            while True:
                text = opened.accumulator.add(await opened.events.__anext__())
                if text:
                    return text
        except StopAsyncIteration:
            self._end(opened, complete=True)
            raise
        except ProviderError as exc:
            self._end(opened, complete=False)
            await self._release(opened)
            partial = opened.accumulator.text
            raise StreamInterruptedError(
                f"stream broke after {len(partial)} characters: {type(exc).__name__}: "
                f"{exc.message}",
                partial_text=partial,
                provider=opened.provider,
                model=opened.model,
                request_id=exc.request_id or opened.accumulator.request_id,
                status_code=exc.status_code,
            ) from exc
        except BaseException:
            self._end(opened, complete=False)
            await self._release(opened)
            raise

    def _end(self, opened: OpenedStream, *, complete: bool) -> None:
        """Record the call exactly once and build the response (sync, so it survives cancel)."""
        if self._response is not None:
            return
        self._closed = True
        self._response = self._finish(opened, complete)
        for end_callback in self._on_end:
            end_callback(self._response, complete)
        if complete:
            for callback in self._on_complete:
                callback(self._response)

    @staticmethod
    async def _release(opened: OpenedStream) -> None:
        closer = getattr(opened.events, "aclose", None)
        if closer is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await closer()
                except Exception:  # the connection is going away either way
                    logger.debug("error while closing a stream", exc_info=True)

    async def aclose(self) -> None:
        """Stop the stream, release its connection, and record what was received."""
        opened = self._opened
        self._closed = True
        if opened is None or self._response is not None and opened.exhausted:
            return
        if self._response is None:
            self._end(opened, complete=opened.exhausted and not opened.pending)
        await self._release(opened)

    def __del__(self) -> None:
        opened = self._opened
        if opened is not None and self._response is None:
            self._end(opened, complete=False)
