"""Streams: the I/O-free accumulator and the :class:`ResponseStream` callers iterate."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from llmorch.events import (
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallDone,
    ToolCallStarted,
    Usage,
)
from llmorch.exceptions import OrchestratorError, ProviderError, StreamInterruptedError
from llmorch.messages import ReasoningItem
from llmorch.tools import ToolCall, generated_id, parse_arguments
from llmorch.types import LLMResponse, StreamEvent

if TYPE_CHECKING:
    from llmorch.ledger.base import Hold

__all__ = ["OpenedStream", "ResponseStream", "StreamAccumulator", "open_attempt"]

logger = logging.getLogger("llmorch")


class _Call:
    """A tool call being streamed: its id, name and argument fragments."""

    __slots__ = ("fragments", "id", "index", "name")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.fragments: list[str] = []

    def finish(self) -> ToolCall:
        return parse_arguments(self.id, self.name, "".join(self.fragments))

    def partial(self) -> ToolCall:
        call = self.finish()
        return dataclasses.replace(call, error="the stream ended before this call was complete")


class _Thought:
    """A reasoning block being streamed (or a bare signature on a tool call's part)."""

    __slots__ = ("parts", "redacted", "signature", "tool_call_id")

    def __init__(self, tool_call_id: str | None = None, signature: str | None = None) -> None:
        self.parts: list[str] = []
        self.signature = signature
        self.redacted = False
        self.tool_call_id = tool_call_id

    def item(self) -> ReasoningItem:
        return ReasoningItem(
            "".join(self.parts), self.signature, self.redacted, tool_call_id=self.tool_call_id
        )


class StreamAccumulator:
    """Folds normalised stream events into text, tool calls, reasoning and usage. Does no I/O.

    It is the one place where tool-call fragments are merged: adapters report them keyed by
    the vendor's index, and this joins them, parses the JSON (keeping malformed text) and gives
    calls without a vendor id a generated one.

    Attributes:
        tokens: The latest usage the provider reported, or ``None``.
        finish_reason: The normalised finish reason, once known.
        request_id: The vendor's request id, if any.
        model_answered: The model id the vendor echoed, if any.
        raw: The last event payload worth keeping as ``raw_response``.
        tool_calls: The tool calls completed so far.
        has_content: True once text, reasoning or a tool call arrived (fallback ends there).
    """

    __slots__ = (
        "_calls",
        "_parts",
        "_thoughts",
        "finish_reason",
        "has_content",
        "model_answered",
        "raw",
        "request_id",
        "tokens",
        "tool_calls",
    )

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._thoughts: dict[object, _Thought] = {}
        self.tool_calls: list[ToolCall] = []
        self.tokens: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.request_id: str | None = None
        self.model_answered: str | None = None
        self.raw: dict[str, Any] | None = None
        self.has_content = False

    def add(self, event: StreamEvent) -> str:
        """Take one event (the plain-text iteration path).

        Args:
            event: The adapter's event.

        Returns:
            The text it carries ("" when none).
        """
        if event.kind == "text":  # the hot path: text events carry nothing else
            self._parts.append(event.text)
            self.has_content = True
            return event.text
        self.translate(event)
        return ""

    def translate(self, event: StreamEvent) -> list[Event]:
        """Take one event and return the public events it means (the ``events()`` path).

        Args:
            event: The adapter's event.

        Returns:
            The :mod:`llmorch.events` it produces (possibly none).
        """
        kind = event.kind
        if kind == "text":
            if not event.text:
                return []
            self._parts.append(event.text)
            self.has_content = True
            return [TextDelta(event.text)]
        if event.request_id:
            self.request_id = event.request_id
        if event.model_answered:
            self.model_answered = event.model_answered
        if event.raw is not None:
            self.raw = event.raw
        if kind == "usage":
            self.tokens = event.tokens
            return [Usage(dict(event.tokens or {}))]
        if kind == "finish":
            out: list[Event] = self._close_all()
            reason = event.finish_reason
            if self.tool_calls and reason == "stop":
                reason = "tool_calls"  # Gemini says STOP for an answer that calls tools
            self.finish_reason = reason
            out.append(Finish(reason))
            return out
        if kind == "reasoning":
            return self._reasoning(event)
        if kind == "tool_start":
            return self._start(event)
        if kind == "tool_delta":
            call = self._calls.get(event.index)
            if call is None or not event.text:
                return []
            call.fragments.append(event.text)
            return [ToolCallDelta(call.index, call.id, event.text)]
        if kind == "tool_end":
            call = self._calls.pop(event.index, None)
            return [] if call is None else [self._done(call)]
        return []

    def _reasoning(self, event: StreamEvent) -> list[Event]:
        thought = self._thoughts.get(event.index)
        if thought is None:
            thought = self._thoughts[event.index] = _Thought()
        if event.signature:
            thought.signature = event.signature
        if event.redacted:
            thought.redacted = True
            self.has_content = True
        if not event.text:
            return []
        thought.parts.append(event.text)
        if thought.redacted:
            return []
        self.has_content = True
        return [ReasoningDelta(event.text)]

    def _start(self, event: StreamEvent) -> list[Event]:
        out: list[Event] = []
        previous = self._calls.pop(event.index, None)
        if previous is not None:  # a new call at a busy index closes the old one
            out.append(self._done(previous))
        call = _Call(event.index, event.tool_id or generated_id(), event.name or "")
        self._calls[event.index] = call
        if event.signature:
            self._thoughts[("call", call.id)] = _Thought(call.id, event.signature)
        self.has_content = True
        out.append(ToolCallStarted(call.index, call.id, call.name))
        if event.text:  # a vendor that sends whole calls (Gemini) may put the arguments here
            call.fragments.append(event.text)
            out.append(ToolCallDelta(call.index, call.id, event.text))
        return out

    def _done(self, call: _Call) -> ToolCallDone:
        done = call.finish()
        self.tool_calls.append(done)
        return ToolCallDone(done)

    def _close_all(self) -> list[Event]:
        calls = sorted(self._calls.values(), key=lambda c: c.index)
        self._calls.clear()
        return [self._done(call) for call in calls]

    def partial_tool_calls(self) -> list[ToolCall]:
        """Every call begun: the finished ones, then the unfinished ones as received so far.

        Returns:
            The calls (unfinished ones carry an ``error``).
        """
        open_calls = sorted(self._calls.values(), key=lambda c: c.index)
        return [*self.tool_calls, *(call.partial() for call in open_calls)]

    def finish_calls(self) -> None:
        """Close calls still open when the stream ended normally (no tool_end, no finish)."""
        self._close_all()

    @property
    def reasoning_items(self) -> list[ReasoningItem]:
        """The reasoning state received, in the order the vendor sent it."""
        return [thought.item() for thought in self._thoughts.values()]

    @property
    def reasoning(self) -> str | None:
        """The thinking text received (``None`` when none)."""
        texts = ["".join(t.parts) for t in self._thoughts.values() if not t.redacted and t.parts]
        return "".join(texts) if texts else None

    @property
    def text(self) -> str:
        """All text received so far."""
        return "".join(self._parts)


@dataclass
class OpenedStream:
    """One stream attempt that produced its first content event (or ended without one).

    Attributes:
        provider: The configured provider name.
        model: The model id from the chain.
        events: The adapter's event iterator, positioned after ``pending``.
        accumulator: What has been folded in so far.
        pending: Public events received but not yet handed to the caller.
        started: ``time.perf_counter()`` when the attempt was sent.
        attempts: The failed attempts before this one.
        exhausted: True when the adapter's stream already ended.
        hold: The attempt's budget reservation, settled when the call is recorded.
        error: What broke or cancelled the stream after it opened, if anything.
    """

    provider: str
    model: str
    events: AsyncIterator[StreamEvent]
    accumulator: StreamAccumulator
    pending: list[Event]
    started: float
    attempts: list[tuple[str, OrchestratorError]] = field(default_factory=list)
    exhausted: bool = False
    hold: Hold | None = None
    error: BaseException | None = None


async def open_attempt(opened: OpenedStream) -> OpenedStream:
    """Read an attempt's events until the first one that carries content.

    Fallback is still possible until then: the events read are kept in ``pending``.

    Args:
        opened: A fresh attempt.

    Returns:
        The same attempt, positioned after its first content event (or exhausted).
    """
    acc = opened.accumulator
    events = opened.events
    try:
        async for event in events:
            opened.pending += acc.translate(event)
            if acc.has_content:
                return opened
    except BaseException:
        with anyio.CancelScope(shield=True):
            await events.aclose()  # type: ignore[attr-defined]
        raise
    opened.exhausted = True
    acc.finish_calls()
    return opened


class ResponseStream:
    """An async iterator of text chunks, and an async context manager.

    Opening (the first ``__anext__``, ``events()`` step or ``__aenter__``) runs the fallback
    chain until a model produces its first content event (text, reasoning or a tool call).
    After that, a failure raises :class:`~llmorch.exceptions.StreamInterruptedError`. Once the
    stream is exhausted, :attr:`response` holds the full :class:`~llmorch.types.LLMResponse`.
    Closing early, cancelling, or losing the connection releases it and still records the call.

    Iterating it yields text only; :meth:`events` yields the typed events of
    :mod:`llmorch.events` instead. A stream has one consumer: using both raises
    :class:`RuntimeError`.
    """

    def __init__(
        self,
        opener: Callable[[], Awaitable[OpenedStream]],
        finish: Callable[[OpenedStream, bool], LLMResponse],
        validate: Callable[[LLMResponse], None] | None = None,
        afinish: Callable[[OpenedStream, bool], Awaitable[LLMResponse]] | None = None,
    ) -> None:
        self._opener = opener
        self._finish = finish
        self._afinish = afinish
        self._validate = validate
        self._opened: OpenedStream | None = None
        self._take: Callable[[], StreamEvent | None] | None = None
        self._response: LLMResponse | None = None
        self._ending = False  # the call is being recorded
        self._closed = False
        self._consumer: str | None = None
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

    def _claim(self, consumer: str) -> None:
        if self._consumer is None:
            self._consumer = consumer
        elif self._consumer != consumer:
            raise RuntimeError(
                "a stream has one consumer: it is already read with "
                + ("events()" if self._consumer == "events" else "plain iteration")
            )

    async def _open(self) -> OpenedStream:
        if self._opened is None:
            if self._closed:
                raise RuntimeError("the stream is closed")
            self._opened = opened = await self._opener()
            # an adapter stream that buffers a read's events hands them over without an await
            self._take = getattr(opened.events, "take", None)
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
        if self._consumer != "text":
            self._claim("text")
        if self._closed:
            raise StopAsyncIteration
        opened = self._opened or await self._open()
        pending = opened.pending
        while pending:
            first = pending.pop(0)
            if type(first) is TextDelta:
                return first.text
        if opened.exhausted:
            await self._exhausted(opened)
        add = opened.accumulator.add
        take = self._take
        try:
            while True:
                event = take() if take is not None else None
                text = add(event if event is not None else await opened.events.__anext__())
                if text:
                    return text
        except StopAsyncIteration:
            opened.accumulator.finish_calls()
        except ProviderError as exc:
            raise await self._interrupted(opened, exc) from exc
        except BaseException as exc:
            opened.error = exc
            await self._aend(opened, complete=False)
            await self._release(opened)
            raise
        await self._exhausted(opened)

    async def _exhausted(self, opened: OpenedStream) -> NoReturn:
        """The stream ended normally: record it, validate the answer, stop the iteration.

        Raises:
            StopAsyncIteration: Always, unless the answer fails its ``response_format``.
            OutputValidationError: The answer does not validate (it is recorded).
        """
        await self._aend(opened, complete=True)
        if self._validate is not None and self._response is not None:
            validate, self._validate = self._validate, None
            validate(self._response)
        raise StopAsyncIteration

    def events(self) -> AsyncIterator[Event]:
        """Iterate the typed events instead of text (SPEC §2.9).

        Returns:
            An async iterator of :mod:`llmorch.events` values: text and reasoning deltas, tool
            call start/delta/done (keyed by index), usage and the finish.

        Raises:
            RuntimeError: The stream is already read with plain iteration.
        """
        self._claim("events")
        return _Events(self)

    async def _next_event(self) -> Event:
        if self._closed:
            raise StopAsyncIteration
        opened = self._opened or await self._open()
        if opened.pending:
            return opened.pending.pop(0)
        if opened.exhausted:
            await self._exhausted(opened)
        translate = opened.accumulator.translate
        take = self._take
        try:
            while True:
                event = take() if take is not None else None
                out = translate(event if event is not None else await opened.events.__anext__())
                if out:
                    if len(out) > 1:
                        opened.pending += out[1:]
                    return out[0]
        except StopAsyncIteration:
            opened.accumulator.finish_calls()
        except ProviderError as exc:
            raise await self._interrupted(opened, exc) from exc
        except BaseException as exc:
            opened.error = exc
            await self._aend(opened, complete=False)
            await self._release(opened)
            raise
        await self._exhausted(opened)

    async def _interrupted(
        self, opened: OpenedStream, exc: ProviderError
    ) -> StreamInterruptedError:
        opened.error = exc
        await self._aend(opened, complete=False)
        await self._release(opened)
        acc = opened.accumulator
        partial = acc.text
        calls = acc.partial_tool_calls()
        what = f"{len(partial)} characters"
        if calls:
            what += f" and {len(calls)} tool call{'s' if len(calls) > 1 else ''}"
        return StreamInterruptedError(
            f"stream broke after {what}: {type(exc).__name__}: {exc.message}",
            partial_text=partial,
            partial_tool_calls=calls,
            provider=opened.provider,
            model=opened.model,
            request_id=exc.request_id or acc.request_id,
            status_code=exc.status_code,
        )

    def _end(self, opened: OpenedStream, *, complete: bool) -> None:
        """Record the call exactly once and build the response, blocking (the finaliser's way)."""
        if self._response is not None or self._ending:
            return
        self._closed = self._ending = True
        self._ended(self._finish(opened, complete), complete)

    async def _aend(self, opened: OpenedStream, *, complete: bool) -> None:
        """Record the call exactly once and build the response; a cancel waits for the record."""
        if self._response is not None or self._ending:
            return
        self._closed = self._ending = True
        if self._afinish is None:
            self._ended(self._finish(opened, complete), complete)
            return
        with anyio.CancelScope(shield=True):
            response = await self._afinish(opened, complete)
        self._ended(response, complete)

    def _ended(self, response: LLMResponse, complete: bool) -> None:
        self._response = response
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
            await self._aend(opened, complete=opened.exhausted and not opened.pending)
        await self._release(opened)

    def __del__(self) -> None:
        opened = self._opened
        if opened is not None and self._response is None:
            self._end(opened, complete=False)


class _Events:
    """The async iterator :meth:`ResponseStream.events` returns."""

    __slots__ = ("_stream",)

    def __init__(self, stream: ResponseStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    def __anext__(self) -> Awaitable[Event]:
        return self._stream._next_event()  # the coroutine itself: no second frame per event
