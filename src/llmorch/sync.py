"""The synchronous facade: the async core on one long-lived anyio portal thread per process.

Lifetime rules (SPEC §2.1, §2.2, §2.8):

- Every sync object resolves the facade's *current generation* (one portal thread, its event loop
  and one async core) on each call, so nothing keeps a stale core.
- The portal thread is a daemon thread; an orchestrator that is never closed is closed when it
  is collected, and at interpreter exit before daemon threads are frozen, so it never keeps a
  process alive.
- After ``os.fork()`` the child abandons the parent's generations without touching them (no
  close, no finaliser: a close would write on sockets and an epoll set the parent still uses),
  and its first call starts a fresh generation.
- A sync stream left early (``break``, an exception, garbage collection) cancels its pump task,
  which records the call and releases the connection.
- A call from another thread is one hop each way: a callback on the loop starts its task, and
  the caller waits on a lock the task releases with the outcome. Calls still in flight when the
  generation stops are cancelled, and calls that reach a stopped loop are refused, so no caller
  is left waiting.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import inspect
import os
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from llmorch._http import Timeout
from llmorch.config import ConfigManager, OrchestratorConfig
from llmorch.conversation import Conversation
from llmorch.events import Event
from llmorch.exceptions import OrchestratorError
from llmorch.orchestrator import AsyncLLMOrchestrator
from llmorch.tool_loop import ToolLoopResult
from llmorch.tools import Tool
from llmorch.types import LLMResponse, Message, ParsedT

if TYPE_CHECKING:
    from llmorch.costs import CostTracker
    from llmorch.registry import ModelRegistry
    from llmorch.streaming import ResponseStream

__all__ = ["LLMOrchestrator", "SyncConversation", "SyncResponseStream"]

#: How long interpreter exit waits for the portal threads to close their clients.
_EXIT_WAIT_S = 3.0
#: How long a stream's finaliser waits for its pump to record the call and release the connection.
_FINALISER_WAIT_S = 1.0


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Call:
    """One call from another thread: what to run, its outcome, and the lock its caller waits on.

    The lock is taken when the call is made and released once, on the portal thread, when the
    outcome (``value`` or ``error``) is set.
    """

    __slots__ = ("error", "func", "lock", "scope", "task", "value")

    def __init__(self, func: Callable[[], Any]) -> None:
        self.func = func
        self.lock = threading.Lock()
        self.lock.acquire()
        self.value: Any = None
        self.error: BaseException | None = None
        self.scope: anyio.CancelScope | None = None
        self.task: asyncio.Task[None] | None = None


class _Generation:
    """One process's portal thread, its asyncio loop and the async core it drives.

    Args:
        config: The validated configuration.
        session_id: The session id of the core.
    """

    def __init__(self, config: OrchestratorConfig, session_id: str | None) -> None:
        self.pid = os.getpid()
        self.core = AsyncLLMOrchestrator(config, session_id=session_id)
        self.core._finalizer.detach()  # this generation closes (or, after a fork, abandons) it
        self.pumps: set[_Pump] = set()
        #: Calls made and not yet answered (added by callers, removed on the portal thread).
        self.calls: set[_Call] = set()
        self.stopping = False
        self._accepting = False
        self.portal: BlockingPortal
        self.loop: asyncio.AbstractEventLoop
        self._stop_event: anyio.Event
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="llmorch-portal", daemon=True)
        self.thread.start()
        self._ready.result()
        try:
            self.call(self.core.start)
        except BaseException:
            self.stop()
            raise

    def _run(self) -> None:
        try:
            anyio.run(self._serve, backend="asyncio")
        except BaseException as exc:  # pragma: no cover - the loop itself failed to start
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            with _registry_lock():
                _LIVE.discard(self)
            self._refuse_waiting()

    async def _serve(self) -> None:
        try:
            async with BlockingPortal() as portal:
                self.portal, self.loop = portal, asyncio.get_running_loop()
                self._stop_event = anyio.Event()
                self._accepting = True
                with _registry_lock():
                    _LIVE.add(self)
                self._ready.set_result(None)
                await self._stop_event.wait()
                pumps = list(self.pumps)  # streams end cleanly, recorded, before anything else
                for pump in pumps:
                    if pump.scope is not None:
                        pump.scope.cancel()
                for pump in pumps:
                    if pump.finished is not None:
                        await pump.finished.wait()
                await self._cancel_calls()  # calls still in flight from other threads
                await portal.stop(cancel_remaining=True)  # pumps started in the meantime
        finally:
            with anyio.CancelScope(shield=True):
                await self.core.aclose()

    @property
    def on_loop_thread(self) -> bool:
        """Whether the caller runs on this generation's portal thread."""
        return threading.get_ident() == self.thread.ident

    def request_stop(self) -> None:
        """Ask the portal thread to close the core and stop; returns at once, from any thread."""
        self.stopping = True
        try:
            self.loop.call_soon_threadsafe(self._stop_event.set)
        except RuntimeError:  # the loop has already closed
            pass

    def stop(self) -> None:
        """Close the core and stop the thread, waiting for it unless called from that thread."""
        self.request_stop()
        if not self.on_loop_thread:
            self.thread.join()

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` (sync or async) on the portal and return its result.

        Args:
            func: A callable without arguments.

        Returns:
            Its result.

        Raises:
            OrchestratorError: The orchestrator was closed before or during the call.
            RuntimeError: Called on the portal thread itself.
            concurrent.futures.CancelledError: The call was cancelled on the portal.
        """
        error: BaseException | None
        if threading.get_ident() == self.thread.ident:
            error = RuntimeError("This method cannot be called from the event loop thread")
        else:
            call = _Call(func)
            self.calls.add(call)
            try:
                self.loop.call_soon_threadsafe(self._begin, call)
            except RuntimeError:  # the loop has closed
                self.calls.discard(call)
                error = RuntimeError("This portal is not running")
            else:
                call.lock.acquire()
                error, call.error = call.error, None
                if error is None:
                    return call.value
        try:
            if self.stopping and isinstance(
                error, (RuntimeError, concurrent.futures.CancelledError)
            ):
                raise OrchestratorError("the orchestrator is closed") from None
            raise error
        finally:
            del error  # the traceback would hold this frame, and this frame the error

    def _begin(self, call: _Call) -> None:
        """Start a call's task (on the portal thread, in a copy of the caller's context)."""
        if self._accepting:
            call.task = _start_task(self.loop, self._run_call(call))
        else:
            self._answer(call, RuntimeError("This portal is not running"))

    async def _run_call(self, call: _Call) -> None:
        """A call's task: run it and answer; cancelled (at stop or before it began), it says so."""
        error: BaseException | None = concurrent.futures.CancelledError()
        try:
            result = call.func()
            if inspect.isawaitable(result):
                with anyio.CancelScope() as call.scope:
                    result = await result
                    call.value, error = result, None
            else:
                call.value, error = result, None
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            error = exc
        self._answer(call, error)
        error = None  # the traceback holds this frame

    def _answer(self, call: _Call, error: BaseException | None) -> None:
        """Set a call's outcome and wake its caller (on the portal thread, once per call)."""
        self.calls.discard(call)
        call.error = error
        call.lock.release()

    async def _cancel_calls(self) -> None:
        """Refuse new calls, cancel those in flight and wait until each has answered."""
        self._accepting = False
        tasks = []
        for call in list(self.calls):
            if call.task is not None:
                if call.scope is not None:
                    call.scope.cancel()
                else:  # pragma: no cover - not started yet (no eager tasks before Python 3.12)
                    call.task.cancel()
                tasks.append(call.task)
        if tasks:
            await asyncio.wait(tasks)

    def _refuse_waiting(self) -> None:
        """Answer the calls that reached the loop after its last turn (the thread is ending)."""
        while True:
            try:
                call = self.calls.pop()
            except KeyError:
                return
            call.error = RuntimeError("This portal is not running")
            call.lock.release()

    def start_pump(
        self,
        pump: _Pump,
        stream: ResponseStream,
        source: AsyncIterator[object],
        send: MemoryObjectSendStream[object],
        receive: MemoryObjectReceiveStream[object],
    ) -> concurrent.futures.Future[None]:
        """Start a stream's pump task on the portal.

        Args:
            pump: The state the pump shares with the stream's finaliser.
            stream: The async stream.
            source: What the pump reads: the stream itself (text) or its ``events()``.
            send: Where the pump puts chunks.
            receive: Where the stream takes them (the pump closes it when it ends).

        Returns:
            The task's future.

        Raises:
            OrchestratorError: The orchestrator is closed.
        """
        try:
            task, _ = self.portal.start_task(
                _pump_chunks, self, pump, stream, source, send, receive
            )
        except RuntimeError:
            if self.stopping:
                raise OrchestratorError("the orchestrator is closed") from None
            raise
        return task


if sys.version_info >= (3, 12):

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start a task whose first step runs now, not on the loop's next turn."""
        return asyncio.Task(coro, loop=loop, eager_start=True)

else:  # pragma: no cover - Python < 3.12 has no eager tasks

    def _start_task(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Start a task (its first step runs on the loop's next turn)."""
        return loop.create_task(coro)


def _registry_lock() -> threading.Lock:
    return _REGISTRY_LOCK[0]


_REGISTRY_LOCK = [threading.Lock()]
#: Generations of this process whose portal thread may still be running.
_LIVE: set[_Generation] = set()
#: Generations inherited through fork: kept alive and untouched for the life of the process.
_ABANDONED: set[_Generation] = set()
_ABANDONED_PINNED = [False]
#: Every facade's state, to reset its lock in a forked child.
_STATES: weakref.WeakSet[_State] = weakref.WeakSet()


def _abandon(gen: _Generation) -> None:
    """Keep a parent's generation forever, unused, in a forked child.

    Closing it, or letting it be collected, would run the parent's loop, selector and socket
    finalisers here: a TLS close_notify or an HTTP write on a socket the parent still uses, an
    ``epoll_ctl(DEL)`` on the epoll set the parent's loop shares with this process. So the set
    that holds it gets one extra reference that nothing ever drops, even at interpreter exit.
    """
    _ABANDONED.add(gen)
    if not _ABANDONED_PINNED[0]:
        _ABANDONED_PINNED[0] = True
        try:
            import ctypes

            ctypes.pythonapi.Py_IncRef(ctypes.py_object(_ABANDONED))
        except (ImportError, AttributeError, OSError):  # pragma: no cover - not CPython
            pass  # the module global still holds them until interpreter exit


def _after_fork_in_child() -> None:
    _REGISTRY_LOCK[0] = threading.Lock()
    for gen in list(_LIVE):
        _abandon(gen)
    _LIVE.clear()
    for state in list(_STATES):
        state.lock = threading.Lock()


def _stop_all_at_exit() -> None:
    """Close every generation of this process while its daemon thread still runs."""
    pid = os.getpid()
    gens = [gen for gen in list(_LIVE) if gen.pid == pid]
    for gen in gens:
        gen.request_stop()
    deadline = time.monotonic() + _EXIT_WAIT_S
    for gen in gens:
        if not gen.on_loop_thread:
            gen.thread.join(max(0.0, deadline - time.monotonic()))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_stop_all_at_exit)


class _State:
    """A facade's current generation, replaced after a fork; holds no reference to the facade."""

    def __init__(self, config: OrchestratorConfig, session_id: str | None) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.closed = False
        self.gen = _Generation(config, session_id)
        self.session_id = self.gen.core.session_id
        _STATES.add(self)

    def current(self) -> _Generation:
        """The generation serving this process, started on the first call after a fork.

        Returns:
            The generation.

        Raises:
            OrchestratorError: The orchestrator is closed.
        """
        gen = self.gen
        if self.closed:
            raise OrchestratorError("the orchestrator is closed")
        if gen.pid == os.getpid():
            if gen.stopping:  # by the exit hook or the finaliser
                raise OrchestratorError("the orchestrator is closed")
            return gen
        with self.lock:
            if self.closed:
                raise OrchestratorError("the orchestrator is closed")
            if self.gen.pid != os.getpid():
                _abandon(self.gen)  # (the fork hook normally did this already)
                self.gen = _Generation(self.config, self.session_id)
            return self.gen

    def latest(self) -> AsyncLLMOrchestrator:
        """The current core, or after ``close()`` the last one (for its tracker and registry)."""
        return self.gen.core if self.closed else self.current().core

    def close(self) -> None:
        """Close this process's generation and wait for its thread (from any other thread)."""
        self.closed = True
        if self.gen.pid == os.getpid():
            self.gen.stop()

    def release(self) -> None:
        """The facade's finaliser: ask the thread to stop, without waiting (any thread)."""
        self.closed = True
        if self.gen.pid == os.getpid():
            self.gen.request_stop()


class _Pump:
    """What a stream's pump task shares with the stream's finaliser (never the stream itself)."""

    __slots__ = ("finished", "scope", "task")

    def __init__(self) -> None:
        self.scope: anyio.CancelScope | None = None
        self.finished: anyio.Event | None = None
        self.task: concurrent.futures.Future[None] | None = None


async def _pump_chunks(
    gen: _Generation,
    pump: _Pump,
    stream: ResponseStream,
    source: AsyncIterator[object],
    send: MemoryObjectSendStream[object],
    receive: MemoryObjectReceiveStream[object],
    *,
    task_status: TaskStatus[None],
) -> None:
    """Hand the stream's chunks (or events) over one at a time; cancelled, it records."""
    pump.finished = anyio.Event()
    gen.pumps.add(pump)
    try:
        with anyio.CancelScope() as pump.scope:
            task_status.started()
            async with send:
                try:
                    async for chunk in source:
                        await send.send(chunk)
                except Exception as exc:
                    await send.send(_Failure(exc))
                finally:
                    await stream.aclose()
    finally:
        receive.close()  # the consumer's next receive ends the iteration
        gen.pumps.discard(pump)
        pump.finished.set()


def _cancel_pump(gen: _Generation, pump: _Pump, *, wait: bool) -> None:
    """Cancel a pump from any thread; optionally wait (bounded) for it to record and release."""
    if gen.pid != os.getpid() or pump.scope is None:
        return
    try:
        gen.loop.call_soon_threadsafe(pump.scope.cancel)
    except RuntimeError:  # the loop has closed: its shutdown cancelled every pump
        return
    if wait and pump.task is not None and not gen.on_loop_thread:
        concurrent.futures.wait([pump.task], timeout=_FINALISER_WAIT_S)


class SyncResponseStream:
    """A :class:`~llmorch.ResponseStream` for sync code: an iterator of ``str`` chunks.

    One task on the portal owns the async stream and hands chunks over one at a time. Leaving
    the stream early — :meth:`close`, a ``with`` block, ``break``, an exception in the loop
    body, or dropping the last reference — cancels that task, which records the call and
    releases the connection before the next statement runs.

    :meth:`events` yields the typed events of :mod:`llmorch.events` instead of text, with the
    same rules; a stream has one consumer (iterating it and ``events()`` together raises
    :class:`RuntimeError`).
    """

    def __init__(self, owner: LLMOrchestrator, gen: _Generation, stream: ResponseStream) -> None:
        self._owner = owner  # keeps the facade, so its thread, alive while the stream is
        self._gen = gen
        self._stream = stream
        self._pump = _Pump()
        self._receive: MemoryObjectReceiveStream[object] | None = None
        self._done = False
        self._finalizer = weakref.finalize(self, _cancel_pump, gen, self._pump, wait=True)
        self._finalizer.atexit = False  # at exit the generation's shutdown cancels every pump

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

    def _generation(self) -> _Generation:
        if self._gen.pid != os.getpid():
            raise OrchestratorError(
                "this stream was opened in another process (before os.fork()): open a new one"
            )
        return self._gen

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._stream._consumer != "text":
            self._stream._claim("text")
        item = self._next_item()
        assert isinstance(item, str)
        return item

    def events(self) -> Iterator[Event]:
        """Iterate the typed events instead of text (see ``ResponseStream.events``).

        Returns:
            An iterator of :mod:`llmorch.events` values. Leaving it early records the call
            like leaving plain iteration early.

        Raises:
            RuntimeError: The stream is already read with plain iteration.
        """
        self._stream._claim("events")
        return _SyncEvents(self)

    def _next_item(self) -> object:
        if self._done:
            raise StopIteration
        gen = self._generation()
        try:
            if self._receive is None:
                send, receive = anyio.create_memory_object_stream[object](0)
                source: AsyncIterator[object] = (
                    self._stream if self._stream._consumer == "text" else self._stream.events()
                )
                try:
                    self._pump.task = gen.start_pump(
                        self._pump, self._stream, source, send, receive
                    )
                except BaseException:
                    send.close()
                    receive.close()
                    raise
                self._receive = receive
            item = gen.call(self._receive.receive)
        except (anyio.EndOfStream, anyio.ClosedResourceError, OrchestratorError):
            # exhausted, ended by close() or a finaliser, or the orchestrator closed
            self._finish()
            raise StopIteration from None
        if isinstance(item, _Failure):
            self._finish()
            raise item.error
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
        self._finalizer.detach()
        if self._pump.task is not None and not self._gen.on_loop_thread:
            concurrent.futures.wait([self._pump.task])

    def close(self) -> None:
        """Stop the stream, release the connection and record what was received.

        In a process that inherited the stream through ``os.fork()`` it only forgets it: the
        connection belongs to the parent.
        """
        if self._done:
            return
        self._done = True
        self._finalizer.detach()
        gen = self._gen
        if gen.pid != os.getpid():
            return
        if self._pump.task is None:  # never started: nothing is open, nothing to record
            if not gen.on_loop_thread:
                with contextlib.suppress(OrchestratorError):
                    gen.call(self._stream.aclose)
            return
        _cancel_pump(gen, self._pump, wait=False)
        if not gen.on_loop_thread:
            concurrent.futures.wait([self._pump.task])


class _SyncEvents:
    """The iterator :meth:`SyncResponseStream.events` returns (it keeps the stream alive)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: SyncResponseStream) -> None:
        self._stream = stream

    def __iter__(self) -> _SyncEvents:
        return self

    def __next__(self) -> Event:
        return self._stream._next_item()  # type: ignore[return-value]


class _CurrentCore:
    """Stands in for the async core inside a conversation.

    Each use resolves the facade's current generation, so a conversation made before
    ``os.fork()`` works in the child.
    """

    def __init__(self, state: _State) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state.current().core, name)


class SyncConversation:
    """The sync form of :class:`~llmorch.Conversation` (same history rules).

    With ``tools=``, :meth:`send` runs the tool loop; plain functions run in worker threads of
    the background loop.
    """

    def __init__(self, owner: LLMOrchestrator, conversation: Conversation) -> None:
        self._owner = owner
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

    @property
    def tools(self) -> list[Tool] | None:
        """The tools :meth:`send` runs a loop with (``None``: plain turns)."""
        return self._conversation.tools

    def send(self, text: str, **kwargs: Any) -> LLMResponse:
        """Send a user turn; see :meth:`llmorch.Conversation.send`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`LLMOrchestrator.send_request`.

        Returns:
            The response.
        """
        gen = self._owner._state.current()
        response: LLMResponse = gen.call(functools.partial(self._conversation.send, text, **kwargs))
        return response

    def stream(self, text: str, **kwargs: Any) -> SyncResponseStream:
        """Stream a user turn; see :meth:`llmorch.Conversation.stream`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`LLMOrchestrator.send_streaming_request`.

        Returns:
            The sync stream.
        """
        gen = self._owner._state.current()
        return SyncResponseStream(self._owner, gen, self._conversation.stream(text, **kwargs))


class LLMOrchestrator:
    """The synchronous facade over :class:`~llmorch.AsyncLLMOrchestrator`.

    The async core runs on one background (daemon) thread for the life of the object, so the
    connection pool stays bound to a live event loop. It works from threads that already run an
    event loop (Jupyter, a FastAPI handler). ``close()`` (or ``with``) releases it at once; an
    orchestrator that is never closed is released when it is garbage-collected or at interpreter
    exit, and never keeps the process alive. After ``os.fork()`` the child's first call starts a
    fresh thread and client; the child never touches the parent's connections.

    Args:
        config: A path to a YAML config, an :class:`~llmorch.OrchestratorConfig`, or a
            dict of the same shape as the YAML (``${VAR}`` references resolved).
        session_id: Labels every ledger record of this orchestrator.
    """

    def __init__(
        self,
        config: str | os.PathLike[str] | OrchestratorConfig | Mapping[str, Any],
        *,
        session_id: str | None = None,
    ) -> None:
        if isinstance(config, Mapping):
            config = OrchestratorConfig.from_dict(config)
        elif not isinstance(config, OrchestratorConfig):
            config = ConfigManager.load_config(config)
        self.config = config
        self._state = _State(config, session_id)
        self._finalizer = weakref.finalize(self, self._state.release)
        self._finalizer.atexit = False  # at exit the module's hook closes it, after user hooks

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        gen = self._state.current()
        return gen.call(functools.partial(getattr(gen.core, name), *args, **kwargs))

    def __repr__(self) -> str:
        return (
            f"LLMOrchestrator(active={self.config.active_provider}/"
            f"{self.config.active_model}, session_id={self.session_id!r})"
        )

    @property
    def _async(self) -> AsyncLLMOrchestrator:
        """The async core serving this process (for tests and debugging)."""
        return self._state.latest()

    @property
    def session_id(self) -> str:
        """This orchestrator's session id."""
        return self._state.session_id

    @property
    def cost_tracker(self) -> CostTracker:
        """The cost tracker."""
        return self._state.latest().cost_tracker

    @property
    def registry(self) -> ModelRegistry:
        """The model registry."""
        return self._state.latest().registry

    def send_request(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: type[ParsedT] | Mapping[str, Any] | None = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> LLMResponse[ParsedT]:
        """Send a chat request; see :meth:`AsyncLLMOrchestrator.send_request`.

        Args:
            messages: The messages.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            provider: One-call provider override.
            model: One-call model override (tried first).
            tags: Labels written to this call's ledger record.
            top_p: Nucleus sampling.
            top_k: Top-k sampling.
            stop: Stop sequences.
            seed: A sampling seed.
            tools: Tools the model may call.
            tool_choice: Whether and which tool the model must call.
            parallel_tool_calls: Allow or forbid several calls in one answer.
            response_format: Answer in this shape (``response.parsed``); see the async API.
            output_retries: Re-asks after an answer that does not validate (not for streams).
            reasoning: How much the model should think.
            timeout: This call's timeout per attempt.
            extra_body: Vendor fields deep-merged into the body.
            extra_headers: Extra request headers (never credentials).
            **kwargs: Refused (vendor fields go in ``extra_body``).

        Returns:
            The response.
        """
        result: LLMResponse[ParsedT] = self._call(
            "send_request",
            messages,
            temperature,
            max_tokens,
            provider=provider,
            model=model,
            tags=tags,
            top_p=top_p,
            top_k=top_k,
            stop=stop,
            seed=seed,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            output_retries=output_retries,
            reasoning=reasoning,
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
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Any = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
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
            top_p: Nucleus sampling.
            top_k: Top-k sampling.
            stop: Stop sequences.
            seed: A sampling seed.
            tools: Tools the model may call.
            tool_choice: Whether and which tool the model must call.
            parallel_tool_calls: Allow or forbid several calls in one answer.
            response_format: Answer in this shape (``response.parsed``); see the async API.
            output_retries: Re-asks after an answer that does not validate (not for streams).
            reasoning: How much the model should think.
            timeout: The time each event may take after the previous one.
            extra_body: Vendor fields deep-merged into the body.
            extra_headers: Extra request headers (never credentials).
            **kwargs: Refused (vendor fields go in ``extra_body``).

        Returns:
            An iterator of ``str`` chunks; ``.response`` once it has ended.
        """
        gen = self._state.current()
        stream = gen.core.send_streaming_request(
            messages,
            temperature,
            max_tokens,
            provider=provider,
            model=model,
            tags=tags,
            top_p=top_p,
            top_k=top_k,
            stop=stop,
            seed=seed,
            tools=tools,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            output_retries=output_retries,
            reasoning=reasoning,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
            **kwargs,
        )
        return SyncResponseStream(self, gen, stream)

    def run_tools(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        tools: Sequence[Any],
        max_turns: int = 8,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Any = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
        timeout: float | Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ToolLoopResult:
        """Run a tool loop; see :meth:`AsyncLLMOrchestrator.run_tools`.

        Plain functions run in worker threads of the background loop, coroutine functions on
        it; neither runs on the calling thread.

        Args:
            messages: The messages.
            temperature: Sent only when given (every turn).
            max_tokens: Sent only when given (every turn).
            tools: Functions, or ``Tool`` values with ``function=``.
            max_turns: The most model turns to make.
            provider: One-call provider override.
            model: One-call model override (tried first).
            tags: Labels written to every turn's ledger record.
            top_p: Nucleus sampling.
            top_k: Top-k sampling.
            stop: Stop sequences.
            seed: A sampling seed.
            tool_choice: Whether and which tool the model must call (first turn).
            parallel_tool_calls: Allow or forbid several calls in one answer.
            response_format: Answer in this shape (``response.parsed``); see the async API.
            output_retries: Re-asks after an answer that does not validate (not for streams).
            reasoning: How much the model should think.
            timeout: Each turn's timeout per attempt.
            extra_body: Vendor fields deep-merged into the body.
            extra_headers: Extra request headers (never credentials).
            **kwargs: Refused (vendor fields go in ``extra_body``).

        Returns:
            The final answer with ``.messages`` and ``.turns``.
        """
        result: ToolLoopResult = self._call(
            "run_tools",
            messages,
            temperature,
            max_tokens,
            tools=tools,
            max_turns=max_turns,
            provider=provider,
            model=model,
            tags=tags,
            top_p=top_p,
            top_k=top_k,
            stop=stop,
            seed=seed,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            output_retries=output_retries,
            reasoning=reasoning,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
            **kwargs,
        )
        return result

    def get_available_models(self, provider: str | None = None) -> list[str]:
        """Model ids of a provider; see :meth:`AsyncLLMOrchestrator.get_available_models`.

        Args:
            provider: A configured provider name (the active one by default).

        Returns:
            The non-deprecated model ids.
        """
        models: list[str] = self._call("get_available_models", provider)
        return models

    def refresh_models(self, provider_name: str | None = None) -> None:
        """Ask the vendors for their model lists again.

        Args:
            provider_name: One provider, or all of them.
        """
        self._call("refresh_models", provider_name)

    def budgets(self) -> list[dict[str, Any]]:
        """Every configured budget's current window; see :meth:`AsyncLLMOrchestrator.budgets`.

        Returns:
            One dict per budget: ``name``, ``window``, ``limit_usd``, ``spent_usd``,
            ``reserved_usd`` and ``remaining_usd``.
        """
        states: list[dict[str, Any]] = self._call("budgets")
        return states

    def get_session_cost(self) -> float:
        """USD spent by this session so far (in this process).

        Returns:
            The sum of the recorded costs.
        """
        return self._state.latest().get_session_cost()

    def conversation(
        self,
        system: str | None = None,
        *,
        messages: list[Message] | None = None,
        provider: str | None = None,
        model: str | None = None,
        max_messages: int | None = None,
        tools: Sequence[Any] | None = None,
        max_turns: int = 8,
    ) -> SyncConversation:
        """Start a conversation pinned to one provider, or continue a stored one.

        Args:
            system: An optional system message.
            messages: A stored history to continue (see
                :meth:`AsyncLLMOrchestrator.conversation`).
            provider: The provider to pin (the active one by default).
            model: The model tried first each turn.
            max_messages: Keep the system message plus only the last N messages.
            tools: Functions (or ``Tool`` values with ``function=``): each ``send`` then
                runs the tool loop.
            max_turns: With ``tools``, the most model turns one ``send`` makes.

        Returns:
            A :class:`SyncConversation`.
        """
        core = cast(AsyncLLMOrchestrator, _CurrentCore(self._state))
        conversation = Conversation(
            core,
            system=system,
            messages=messages,
            provider=provider,
            model=model,
            max_messages=max_messages,
            tools=tools,
            max_turns=max_turns,
        )
        return SyncConversation(self, conversation)

    def close(self) -> None:
        """Close the HTTP client and stop the background thread. Safe to call twice.

        A stream left open is ended (and recorded) first. In a child process that never made a
        call it only forgets the parent's thread and connections.
        """
        self._finalizer.detach()
        self._state.close()

    def __enter__(self) -> LLMOrchestrator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
