"""The synchronous facade: the async core on one long-lived anyio portal thread."""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal, start_blocking_portal

from llmorch._http import Timeout
from llmorch.config import ConfigManager, OrchestratorConfig
from llmorch.exceptions import OrchestratorError
from llmorch.orchestrator import AsyncLLMOrchestrator
from llmorch.types import LLMResponse, Message

if TYPE_CHECKING:
    from llmorch.conversation import Conversation
    from llmorch.costs import CostTracker
    from llmorch.registry import ModelRegistry
    from llmorch.streaming import ResponseStream

__all__ = ["LLMOrchestrator", "SyncConversation", "SyncResponseStream"]

T = TypeVar("T")

_END = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class SyncResponseStream:
    """A :class:`~llmorch.ResponseStream` for sync code: an iterator of ``str`` chunks.

    One task on the portal owns the async stream and hands chunks over one at a time;
    :meth:`close` cancels that task, which releases the connection and records the call.
    """

    def __init__(self, portal: BlockingPortal, stream: ResponseStream) -> None:
        self._portal = portal
        self._stream = stream
        self._receive: anyio.abc.ObjectReceiveStream[object] | None = None
        self._task: Future[None] | None = None
        self._scope: anyio.CancelScope | None = None
        self._done = False

    @property
    def response(self) -> LLMResponse:
        """The full response once the stream has ended (see ``ResponseStream.response``)."""
        return self._stream.response

    def add_done_callback(self, callback: Callable[[LLMResponse], None]) -> None:
        """Call ``callback(response)`` when the stream completes normally.

        Args:
            callback: A sync function (it runs on the portal thread).
        """
        self._stream.add_done_callback(callback)

    async def _pump(
        self,
        send: anyio.abc.ObjectSendStream[object],
        *,
        task_status: TaskStatus[anyio.CancelScope],
    ) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            async with send:
                try:
                    async for chunk in self._stream:
                        await send.send(chunk)
                except Exception as exc:
                    await send.send(_Failure(exc))
                finally:
                    await self._stream.aclose()

    def _start(self) -> anyio.abc.ObjectReceiveStream[object]:
        if self._receive is None:
            send, receive = anyio.create_memory_object_stream[object](0)
            self._receive = receive
            self._task, self._scope = self._portal.start_task(self._pump, send)
        return self._receive

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        receive = self._start()
        try:
            item = self._portal.call(receive.receive)
        except anyio.EndOfStream:
            self._finish()
            raise StopIteration from None
        if isinstance(item, _Failure):
            self._finish()
            raise item.error
        assert isinstance(item, str)
        return item

    def __enter__(self) -> SyncResponseStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _finish(self) -> None:
        self._done = True
        if self._task is not None:
            self._task.result()
        if self._receive is not None:
            self._portal.call(self._receive.aclose)

    def close(self) -> None:
        """Stop the stream, release the connection and record what was received."""
        if self._done:
            return
        if self._scope is None:
            self._done = True
            self._portal.call(self._stream.aclose)
            return
        self._portal.call(self._scope.cancel)
        self._finish()


class SyncConversation:
    """The sync form of :class:`~llmorch.Conversation` (same history rules)."""

    def __init__(
        self,
        portal: Callable[[], BlockingPortal],
        wrap: Callable[[ResponseStream], SyncResponseStream],
        conversation: Conversation,
    ) -> None:
        self._portal = portal
        self._wrap = wrap
        self._conversation = conversation

    @property
    def messages(self) -> list[Message]:
        """The history (a copy)."""
        return self._conversation.messages

    @property
    def cost(self) -> float:
        """USD spent by this conversation."""
        return self._conversation.cost

    @property
    def provider(self) -> str:
        """The pinned provider name."""
        return self._conversation.provider

    def send(self, text: str, **kwargs: Any) -> LLMResponse:
        """Send a user turn; see :meth:`llmorch.Conversation.send`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`LLMOrchestrator.send_request`.

        Returns:
            The response.
        """
        return self._portal().call(functools.partial(self._conversation.send, text, **kwargs))

    def stream(self, text: str, **kwargs: Any) -> SyncResponseStream:
        """Stream a user turn; see :meth:`llmorch.Conversation.stream`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`LLMOrchestrator.send_streaming_request`.

        Returns:
            The sync stream.
        """
        return self._wrap(self._conversation.stream(text, **kwargs))


class LLMOrchestrator:
    """The synchronous facade over :class:`~llmorch.AsyncLLMOrchestrator`.

    The async core runs on one background thread for the life of the object, so the connection
    pool stays bound to a live event loop. It works from threads that already run an event loop
    (Jupyter, a FastAPI handler), and after ``os.fork()`` the child starts a fresh thread.

    Args:
        config: A path to a YAML config, or an :class:`~llmorch.OrchestratorConfig`.
        session_id: Labels every ledger record of this orchestrator.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | OrchestratorConfig,
        *,
        session_id: str | None = None,
    ) -> None:
        if not isinstance(config, OrchestratorConfig):
            config = ConfigManager.load_config(config)
        self.config = config
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._streams: weakref.WeakSet[SyncResponseStream] = weakref.WeakSet()
        self._forked_from: list[tuple[ExitStack | None, AsyncLLMOrchestrator]] = []
        self._pid = 0
        self._closed = False
        self._async = self._start(session_id)

    def _start(self, session_id: str | None) -> AsyncLLMOrchestrator:
        stack = ExitStack()
        portal = stack.enter_context(start_blocking_portal())
        orch = AsyncLLMOrchestrator(self.config, session_id=session_id)
        try:
            portal.call(orch.start)
        except BaseException:
            portal.call(orch.aclose)
            stack.close()
            raise
        stack.callback(portal.call, orch.aclose)
        self._stack, self._portal_obj, self._pid = stack, portal, os.getpid()
        return orch

    def _portal(self) -> BlockingPortal:
        if self._closed:
            raise OrchestratorError("the orchestrator is closed")
        if os.getpid() != self._pid:
            with self._lock:
                if os.getpid() != self._pid:  # forked: the parent's thread does not exist here
                    # Never finalise the parent's portal in the child: closing it would wait
                    # forever for a thread that was not copied. Keep it referenced instead.
                    self._forked_from.append((self._stack, self._async))
                    self._async = self._start(self._async.session_id)
        return self._portal_obj

    def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal().call(functools.partial(func, *args, **kwargs))

    def __repr__(self) -> str:
        return (
            f"LLMOrchestrator(active={self.config.active_provider}/"
            f"{self.config.active_model}, session_id={self.session_id!r})"
        )

    @property
    def session_id(self) -> str:
        """This orchestrator's session id."""
        return self._async.session_id

    @property
    def cost_tracker(self) -> CostTracker:
        """The cost tracker."""
        return self._async.cost_tracker

    @property
    def registry(self) -> ModelRegistry:
        """The model registry."""
        return self._async.registry

    def send_request(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        """Send a chat request; see :meth:`AsyncLLMOrchestrator.send_request`.

        Args:
            messages: The messages.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            provider: One-call provider override.
            model: One-call model override (tried first).
            tags: Labels written to this call's ledger record.
            timeout: This call's timeout per attempt.
            extra_body: Vendor fields deep-merged into the body.
            extra_headers: Extra request headers (never credentials).
            **kwargs: ``stop`` and ``top_p`` (other keywords are deprecated: use
                ``extra_body``).

        Returns:
            The response.
        """
        result: LLMResponse = self._call(
            self._async.send_request,
            messages,
            temperature,
            max_tokens,
            provider=provider,
            model=model,
            tags=tags,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
            **kwargs,
        )
        return result

    def send_streaming_request(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> SyncResponseStream:
        """Stream a chat request; see :meth:`AsyncLLMOrchestrator.send_streaming_request`.

        Args:
            messages: The messages.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            provider: One-call provider override.
            model: One-call model override.
            tags: Labels written to this call's ledger record.
            timeout: The time each event may take after the previous one.
            extra_body: Vendor fields deep-merged into the body.
            extra_headers: Extra request headers (never credentials).
            **kwargs: ``stop`` and ``top_p`` (other keywords are deprecated: use
                ``extra_body``).

        Returns:
            An iterator of ``str`` chunks; ``.response`` once it has ended.
        """
        stream = self._async.send_streaming_request(
            messages,
            temperature,
            max_tokens,
            provider=provider,
            model=model,
            tags=tags,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
            **kwargs,
        )
        return self._wrap(stream)

    def _wrap(self, stream: ResponseStream) -> SyncResponseStream:
        sync_stream = SyncResponseStream(self._portal(), stream)
        self._streams.add(sync_stream)
        return sync_stream

    def get_available_models(self, provider: str | None = None) -> list[str]:
        """Model ids of a provider; see :meth:`AsyncLLMOrchestrator.get_available_models`.

        Args:
            provider: A configured provider name (the active one by default).

        Returns:
            The non-deprecated model ids.
        """
        models: list[str] = self._call(self._async.get_available_models, provider)
        return models

    def refresh_models(self, provider_name: str | None = None) -> None:
        """Ask the vendors for their model lists again.

        Args:
            provider_name: One provider, or all of them.
        """
        self._call(self._async.refresh_models, provider_name)

    def get_session_cost(self) -> float:
        """USD spent by this session so far.

        Returns:
            The sum of the recorded costs.
        """
        return self._async.get_session_cost()

    def conversation(
        self,
        system: str | None = None,
        *,
        messages: list[Message] | None = None,
        provider: str | None = None,
        model: str | None = None,
        max_messages: int | None = None,
    ) -> SyncConversation:
        """Start a conversation pinned to one provider, or continue a stored one.

        Args:
            system: An optional system message.
            messages: A stored history to continue (see
                :meth:`AsyncLLMOrchestrator.conversation`).
            provider: The provider to pin (the active one by default).
            model: The model tried first each turn.
            max_messages: Keep the system message plus only the last N messages.

        Returns:
            A :class:`SyncConversation`.
        """
        return SyncConversation(
            self._portal,
            self._wrap,
            self._async.conversation(
                system,
                messages=messages,
                provider=provider,
                model=model,
                max_messages=max_messages,
            ),
        )

    def close(self) -> None:
        """Close the HTTP client and stop the background thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._stack is not None and os.getpid() == self._pid:
            for stream in list(self._streams):  # a stream left open must not block the stop
                stream.close()
            self._stack.close()

    def __enter__(self) -> LLMOrchestrator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
