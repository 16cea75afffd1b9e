"""How a sync call crosses to the portal thread and back: outcomes, threads, stop, interrupts.

The core's methods are replaced by fakes on the instance, so these tests see only the facade.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from llmorch import LLMOrchestrator, OrchestratorConfig, OrchestratorError, sync
from tests.conftest import base_config

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def orch() -> Iterator[LLMOrchestrator]:
    with LLMOrchestrator(OrchestratorConfig.from_dict(base_config())) as orchestrator:
        yield orchestrator


def fake(orch: LLMOrchestrator, name: str, func: Any) -> None:
    setattr(orch._state.gen.core, name, func)


def test_an_error_in_the_core_reaches_the_caller_with_its_traceback(orch: LLMOrchestrator) -> None:
    """The caller gets the core's own exception; its traceback still shows where it was raised."""

    async def deep_in_the_core(*args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        raise ValueError("from the core")

    fake(orch, "send_request", deep_in_the_core)
    with pytest.raises(ValueError, match="from the core") as info:
        orch.send_request(MESSAGES)
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "deep_in_the_core" in names
    assert "test_an_error_in_the_core_reaches_the_caller_with_its_traceback" in names
    assert "ok" == orch._state.gen.call(lambda: "ok")  # a sync function runs on the portal too


def test_a_cancellation_inside_the_core_is_a_cancelled_call(orch: LLMOrchestrator) -> None:
    """A call the core cancels itself (the orchestrator still open) raises CancelledError."""

    async def cancelled(*args: Any, **kwargs: Any) -> None:
        raise asyncio.CancelledError

    fake(orch, "send_request", cancelled)
    with pytest.raises(concurrent.futures.CancelledError):
        orch.send_request(MESSAGES)


def test_calls_from_many_threads_each_get_their_own_answer(orch: LLMOrchestrator) -> None:
    """Eight threads calling at once: every call returns its own result."""

    async def echo(messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        return messages[0]["content"]

    fake(orch, "send_request", echo)
    answers: dict[int, list[str]] = {}

    def worker(n: int) -> None:
        answers[n] = [
            orch.send_request([{"role": "user", "content": f"{n}-{i}"}]) for i in range(100)
        ]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert {n: [f"{n}-{i}" for i in range(100)] for n in range(8)} == answers
    assert not orch._state.gen.calls


def test_close_cancels_every_call_in_flight_even_one_that_ignores_a_cancel() -> None:
    """close() ends calls that six threads wait on; a call that swallows one cancel is
    cancelled again at its next await, so close() never waits for it to finish by itself."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(base_config()))
    started = threading.Semaphore(0)

    async def hangs(*args: Any, **kwargs: Any) -> None:
        started.release()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            await anyio.sleep(30)  # still cancelled
            raise

    fake(orch, "send_request", hangs)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            orch.send_request(MESSAGES)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert started.acquire(timeout=5)
    began = time.monotonic()
    orch.close()
    for thread in threads:
        thread.join(5)
    assert time.monotonic() - began < 5
    assert [OrchestratorError] * 6 == [type(e) for e in errors]
    with pytest.raises(OrchestratorError, match="closed"):
        orch.send_request(MESSAGES)


def test_a_call_on_the_portal_thread_is_refused(orch: LLMOrchestrator) -> None:
    """From the portal thread itself (a done callback, a tool) a sync call would deadlock."""
    with pytest.raises(RuntimeError, match="event loop thread"):
        orch._state.gen.call(lambda: orch.get_available_models())


def test_calls_that_reach_a_stopping_loop_are_answered() -> None:
    """A call that arrives once the loop refuses work, or whose callback the closing loop never
    runs, still wakes its caller with an error."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(base_config()))
    gen = orch._state.gen
    gen._accepting = False  # as once the generation has begun to stop
    with pytest.raises(RuntimeError, match="not running"):
        gen.call(lambda: None)
    gen.stopping = True
    with pytest.raises(OrchestratorError, match="closed"):
        gen.call(lambda: None)
    gen._accepting = True
    gen.stopping = False
    never_run = sync._Call(lambda: None)  # its callback was lost when the loop closed
    gen.calls.add(never_run)
    orch.close()
    assert never_run.lock.acquire(timeout=5)
    assert isinstance(never_run.error, RuntimeError)
    with pytest.raises(OrchestratorError, match="closed"):
        gen.call(lambda: None)  # the loop itself has closed


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_while_waiting_interrupts_the_caller_and_the_facade_still_works(
    orch: LLMOrchestrator,
) -> None:
    """KeyboardInterrupt reaches the waiting caller at once; the orchestrator stays usable."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        pytest.skip("needs the main thread with Python's own SIGINT handler")

    async def slow(*args: Any, **kwargs: Any) -> str:
        await anyio.sleep(0.5)
        return "late"

    fake(orch, "send_request", slow)
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(0.05, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            orch.send_request(MESSAGES)
    finally:
        timer.join()
    assert time.monotonic() - began < 0.4
    assert "late" == orch.send_request(MESSAGES)
