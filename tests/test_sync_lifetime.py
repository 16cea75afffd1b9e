"""Lifetime of the sync facade and the async core over real sockets: exit, fork, GC, start-up.

Findings: review.md 2, 3, 4, 5; newcomer.md 1, 2, 18 (issue 11, item 2 and acceptance 4).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import llmorch
from llmorch import (
    AsyncLLMOrchestrator,
    LLMOrchestrator,
    OrchestratorConfig,
    OrchestratorError,
    sync,
)
from llmorch.testing import Fault, ProviderEmulator, Reply
from tests.current_models import prices

SRC = str(Path(llmorch.__file__).resolve().parents[1])  # subprocesses import the same llmorch
MODEL = "gpt-5.4-mini"  # the emulator's default model
LONG = " ".join(f"w{i}" for i in range(100))
TRANSPORTS = ["aiohttp", "httpx"]
# What an interpreter must never print at exit or on garbage collection.
NOISE = ("Unclosed", "unclosed", "ResourceWarning", "Traceback", "Exception ignored", "Error")


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


def config_dict(emu: ProviderEmulator, transport: str, **provider: Any) -> dict[str, Any]:
    return {
        "active_provider": "openai",
        "active_model": MODEL,
        "providers": {"openai": {**emu.config_for("openai"), "max_retries": 0, **provider}},
        "cost_tracking": {"enabled": True, "log_path": "ledger.jsonl"},
        "pricing": prices("openai"),
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "http_transport": transport,
    }


def said(text: str) -> str:
    """What the emulator's default answer echoes of the last user message."""
    return text.rsplit("You said: ", 1)[-1]


def ask(orch: LLMOrchestrator, text: str) -> str:
    return said(orch.send_request([{"role": "user", "content": text}]).content)


def records() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def checked_out(orch: LLMOrchestrator) -> int:
    """Connections of the orchestrator's pool currently in use (either transport)."""
    core = orch._async
    client = core._http if core._http is not None else core._adapters._http  # type: ignore[union-attr]
    transport = client._transport  # type: ignore[union-attr]
    pool = getattr(transport, "_pool", None)
    if pool is not None:  # httpx's own pool
        return sum(1 for c in pool.connections if not c.is_idle())
    session = transport._session  # llmorch's aiohttp transport: the aiohttp session
    return len(session.connector._acquired) if session is not None else 0


def collect() -> None:
    """Collect garbage until nothing is left (a finaliser in the garbage can defer a cycle)."""
    for _ in range(5):
        if not gc.collect():
            return


def run_script(code: str, *args: str, flags: tuple[str, ...] = ()) -> tuple[int, str, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


# -- exit (review 4, newcomer 1) ---------------------------------------------------------------

NEVER_CLOSED = """
    import json, sys
    from llmorch import LLMOrchestrator, OrchestratorConfig
    mode, config = sys.argv[1], OrchestratorConfig.from_dict(json.loads(sys.argv[2]))
    if mode == "module":  # a module-level orchestrator, used once, never closed
        orch = LLMOrchestrator(config)
        print(orch.send_request([{"role": "user", "content": "no close"}]).content)
    elif mode == "construct":  # constructed, never used, never closed
        orch = LLMOrchestrator(config)
    else:  # a local one, dropped without close(): the garbage collector releases it
        def once():
            orch = LLMOrchestrator(config)
            print(orch.send_request([{"role": "user", "content": "no close"}]).content)
        once()
    print("end of script", flush=True)
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_review_4_newcomer_1_a_never_closed_sync_orchestrator_lets_the_process_exit(
    emu: ProviderEmulator, transport: str
) -> None:
    """A script that never calls close() exits 0 within 5 s, and quietly (SPEC §2.8)."""
    config = json.dumps(config_dict(emu, transport, fallback_models=[]))
    procs = {
        mode: subprocess.Popen(
            [sys.executable, "-W", "always::ResourceWarning", "-c", textwrap.dedent(NEVER_CLOSED)]
            + [mode, config],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": SRC},
        )
        for mode in ("module", "construct", "local")
    }
    started = time.monotonic()
    try:
        for mode, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=max(0.1, 5 - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                out, err = "", "still running after 5 s"
            assert 0 == proc.returncode, (mode, err)
            assert out.endswith("end of script\n"), mode
            assert "construct" == mode or "You said: no close" in out
            assert not [word for word in NOISE if word in err], (mode, err)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


# -- fork (review 2, 3; newcomer 2) ------------------------------------------------------------


def run_child(orch: LLMOrchestrator, conv: Any, stream: Any, i: int, write_fd: int) -> None:
    """The child's part of the fork test: always ends with os._exit, a watchdog kills a hang."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(5)
    result: dict[str, Any] = {}
    try:
        result["first"] = ask(orch, f"child-{i}")  # the very first call in the child
        result["conversation"] = said(conv.send(f"conv-{i}").content)
        try:
            next(stream)
            result["inherited stream"] = "readable"
        except OrchestratorError:
            result["inherited stream"] = "refused"
        started = time.monotonic()
        orch.close()
        result["close_s"] = time.monotonic() - started
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        os.write(write_fd, json.dumps(result).encode())
        os._exit(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_review_2_3_newcomer_2_fifty_forks_never_share_the_parents_connections(
    emu: ProviderEmulator, transport: str
) -> None:
    """50 forks: each child's first call works on its own client, the parent never reads a
    child's answer, a pre-fork conversation works in the child, and close() in a child that
    inherited an open stream returns at once."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, transport, timeout=5)))
    try:
        conv = orch.conversation(system="terse")
        assert "parent turn" == said(conv.send("parent turn").content)
        emu.script("openai", MODEL, Reply(LONG))
        stream = orch.send_streaming_request([{"role": "user", "content": "open"}])
        assert "w0" == next(stream)  # the parent is mid-stream at every fork
        for i in range(50):
            read_fd, write_fd = os.pipe()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os.close(read_fd)
                run_child(orch, conv, stream, i, write_fd)
            os.close(write_fd)
            # While the child works, the parent keeps using the (inherited) connections.
            assert f"parent-{i}" == ask(orch, f"parent-{i}")
            ready, _, _ = select.select([read_fd], [], [], 10)
            raw = os.read(read_fd, 65536) if ready else b""
            os.close(read_fd)
            if not ready:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            assert raw, f"child {i} hung (status {status})"
            result = json.loads(raw)
            assert 0 == os.waitstatus_to_exitcode(status)
            assert "error" not in result, result
            assert f"child-{i}" == result["first"]
            assert f"conv-{i}" == result["conversation"]
            assert "refused" == result["inherited stream"]
            assert result["close_s"] < 1.0
        assert "parent again" == said(conv.send("parent again").content)
        assert LONG.split(" ")[1:] == [chunk.strip() for chunk in stream]
    finally:
        orch.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_review_3_close_in_a_child_that_never_called_forgets_the_parents_stream(
    emu: ProviderEmulator,
) -> None:
    """A child that only closes (no call first) returns at once; the parent is unaffected."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "aiohttp")))
    try:
        emu.script("openai", MODEL, Reply(LONG))
        stream = orch.send_streaming_request([{"role": "user", "content": "open"}])
        assert "w0" == next(stream)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(5)
                stream.close()
                orch.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert 0 == os.waitstatus_to_exitcode(status)
        assert " w1" == next(stream)
        stream.close()
        assert [False] == [r["complete"] for r in records()]
    finally:
        orch.close()


# -- abandoned sync streams (review 5) --------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_review_5_sync_streams_left_early_are_recorded_and_release_their_connection(
    emu: ProviderEmulator, transport: str
) -> None:
    """`break`, an exception in the loop body and garbage collection each record the call
    and give the connection back before close()."""
    with LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, transport))) as orch:
        messages = [{"role": "user", "content": "hi"}]
        for _ in range(3):
            emu.script("openai", MODEL, Reply(LONG))
            for _chunk in orch.send_streaming_request(messages):
                break
        gc.collect()
        assert [False, False, False] == [r["complete"] for r in records()]
        assert 0 == checked_out(orch)

        emu.script("openai", MODEL, Reply(LONG))
        kept = orch.send_streaming_request(messages)
        with pytest.raises(ValueError):
            for _chunk in kept:
                raise ValueError("the caller's own bug")
        del kept  # the traceback no longer holds it either
        gc.collect()
        assert 4 == len(records())
        assert 0 == checked_out(orch)
        assert "still works" == ask(orch, "still works")


def test_review_5_two_hundred_abandoned_sync_streams_leave_the_pool_usable(
    emu: ProviderEmulator,
) -> None:
    """After 200 streams left with `break`, an ordinary request is answered at once."""
    config = config_dict(emu, "httpx", timeout=1, fallback_models=[])
    with LLMOrchestrator(OrchestratorConfig.from_dict(config)) as orch:
        for _ in range(200):
            emu.script("openai", MODEL, Reply(" ".join(["w"] * 400)))
            for _chunk in orch.send_streaming_request([{"role": "user", "content": "hi"}]):
                break
        assert 0 == checked_out(orch)
        assert "are you there?" == ask(orch, "are you there?")
        assert 201 == len(records())


def test_a_sync_stream_dropped_on_the_portal_thread_is_cancelled_without_deadlock(
    emu: ProviderEmulator,
) -> None:
    """The last reference to a stream dropped on the portal thread itself (a done callback)."""
    with LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "aiohttp"))) as orch:
        emu.script("openai", MODEL, Reply(LONG))
        holder = [orch.send_streaming_request([{"role": "user", "content": "hi"}])]
        assert "w0" == next(holder[0])
        orch._state.gen.call(holder.clear)  # runs the finaliser on the portal thread
        assert "next" == ask(orch, "next")
    assert [False, True] == [r["complete"] for r in records()]


# -- the async core: a forgotten aclose() and start-up (newcomer 18) -------------------------

FORGOTTEN_ACLOSE = """
    import asyncio, gc, json, sys
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
    mode, config = sys.argv[1], OrchestratorConfig.from_dict(json.loads(sys.argv[2]))
    kept = []

    async def main():
        orch = AsyncLLMOrchestrator(config)
        print((await orch.send_request([{"role": "user", "content": "hi"}])).content)
        if mode == "global":
            kept.append(orch)  # still referenced when the loop closes: released at exit
        else:
            del orch  # dropped while the loop runs
            gc.collect()

    asyncio.run(main())
    print("end", flush=True)
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_newcomer_18_a_forgotten_aclose_is_quiet(emu: ProviderEmulator, transport: str) -> None:
    """Without aclose(), neither GC nor exit prints aiohttp's "Unclosed client session"."""
    config = json.dumps(config_dict(emu, transport))
    rc, out, err, _ = run_script(FORGOTTEN_ACLOSE, "dropped", config, flags=("-W", "always"))
    assert (0, "end") == (rc, out.splitlines()[-1]), err
    assert not [word for word in NOISE if word in err], err  # every socket closed, even
    rc, out, err, _ = run_script(FORGOTTEN_ACLOSE, "global", config)
    assert (0, "end") == (rc, out.splitlines()[-1]), err
    assert not [word for word in NOISE if word in err], err


START_UP = """
    import asyncio, json, logging, sys
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig
    config = OrchestratorConfig.from_dict(json.loads(sys.argv[1]))
    slow = []

    class Collect(logging.Handler):
        def emit(self, record):
            slow.append(record.getMessage())

    logging.getLogger("asyncio").addHandler(Collect())

    async def main():
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.1
        orch = AsyncLLMOrchestrator(config)
        await asyncio.sleep(0)  # the callback that starts main() is not start()'s
        await orch.start()  # with model discovery, as by default
        await orch.send_request([{"role": "user", "content": "first"}])
        print(json.dumps([m for m in slow if "took" in m]))
        await orch.aclose()

    asyncio.run(main(), debug=True)
"""


def test_newcomer_18_start_does_not_block_the_event_loop(emu: ProviderEmulator) -> None:
    """In a fresh interpreter (nothing imported yet), neither start() (with discovery) nor
    the first request runs a step over 0.1 s on the loop (asyncio debug mode reports them)."""
    config = config_dict(emu, "auto")
    config["providers"]["anthropic"] = emu.config_for("anthropic")
    config["model_discovery"]["refresh_on_start"] = True
    rc, out, err, _ = run_script(START_UP, json.dumps(config))
    assert 0 == rc, err
    assert [] == json.loads(out.splitlines()[-1])


# -- in-process checks of the same machinery (fork simulated, exit hook called directly) ----


def test_sync_facade_after_a_simulated_fork_abandons_the_old_generation(
    emu: ProviderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With os.getpid() changed and the fork hook run, every wrapper moves to a new generation
    and leaves the old one (thread, loop, sockets) untouched."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "httpx")))
    old = orch._state.gen
    conv = orch.conversation()
    emu.script("openai", MODEL, Reply(LONG))
    stream = orch.send_streaming_request([{"role": "user", "content": "open"}])
    assert "w0" == next(stream)
    unopened = orch.send_streaming_request([{"role": "user", "content": "never read"}])
    real_pid = os.getpid()
    try:
        monkeypatch.setattr(os, "getpid", lambda: real_pid + 100_000)
        sync._after_fork_in_child()
        assert old in sync._ABANDONED and old not in sync._LIVE
        assert "conv in child" == said(conv.send("conv in child").content)
        assert orch._state.gen is not old and old.thread.is_alive()
        with pytest.raises(OrchestratorError, match="another process"):
            next(stream)
        stream.close()  # forgets it: the pump on the old loop keeps its connection
        unopened.close()
        assert old.pumps and not old.stopping
        orch.close()
        assert not orch._state.gen.thread.is_alive()
    finally:
        monkeypatch.undo()
        sync._ABANDONED.discard(old)
        old.stop()
    assert not old.thread.is_alive()


def test_sync_exit_hook_closes_open_orchestrators_and_ends_their_streams(
    emu: ProviderEmulator,
) -> None:
    """What atexit runs: every generation stops, its streams end recorded, calls then refuse."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "aiohttp")))
    emu.script("openai", MODEL, Reply(LONG))
    stream = orch.send_streaming_request([{"role": "user", "content": "open"}])
    assert "w0" == next(stream)
    sync._stop_all_at_exit()
    assert not orch._state.gen.thread.is_alive()
    assert [] == list(stream)
    assert [False] == [r["complete"] for r in records()]
    with pytest.raises(OrchestratorError, match="closed"):
        orch.send_request([{"role": "user", "content": "after exit"}])
    with pytest.raises(OrchestratorError, match="closed"):
        orch.send_streaming_request([{"role": "user", "content": "after exit"}])
    orch.close()


def test_sync_close_from_another_thread_ends_a_call_in_flight(emu: ProviderEmulator) -> None:
    """close() cancels a call another thread is waiting on: it gets OrchestratorError."""
    orch = LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "aiohttp", timeout=30)))
    emu.script("openai", MODEL, Fault.hang())
    seen = len(emu.requests)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            orch.send_request([{"role": "user", "content": "hangs"}])
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 5
    while len(emu.requests) == seen and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting for the request to reach the emulator, not a sync point
    orch.close()
    worker.join(5)
    assert [OrchestratorError] == [type(e) for e in errors]


def test_sync_streams_closed_on_the_portal_thread_do_not_block(emu: ProviderEmulator) -> None:
    """close() called on the portal thread (e.g. from a done callback) never waits on itself."""
    with LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "httpx"))) as orch:
        emu.script("openai", MODEL, Reply(LONG))
        started = orch.send_streaming_request([{"role": "user", "content": "a"}])
        assert "w0" == next(started)
        never = orch.send_streaming_request([{"role": "user", "content": "b"}])
        orch._state.gen.call(started.close)
        orch._state.gen.call(never.close)
        assert [] == list(started) == list(never)
        assert "c" == ask(orch, "c")
    assert [False, True] == [r["complete"] for r in records()]


def test_sync_constructor_failure_in_start_leaves_no_thread(
    emu: ProviderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the core cannot start, the constructor raises and its thread is gone."""

    async def broken(self: AsyncLLMOrchestrator) -> None:
        raise OrchestratorError("cannot start")

    monkeypatch.setattr(AsyncLLMOrchestrator, "start", broken)
    before = set(threading.enumerate())
    with pytest.raises(OrchestratorError, match="cannot start"):
        LLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "httpx")))
    assert set(threading.enumerate()) <= before


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_async_core_dropped_without_aclose_releases_its_client(
    emu: ProviderEmulator, transport: str
) -> None:
    """The finaliser closes the client: collected on the loop thread, or from another thread."""
    config = OrchestratorConfig.from_dict(config_dict(emu, transport))
    for where in ("loop thread", "other thread"):
        holder = [AsyncLLMOrchestrator(config)]
        await holder[0].send_request([{"role": "user", "content": where}])
        client = holder[0]._http
        assert client is not None
        if where == "loop thread":
            holder.clear()
            collect()
        else:
            await anyio.to_thread.run_sync(lambda held=holder: (held.clear(), collect()))
        for _ in range(3):  # the release callback, then the aclose task it starts
            await asyncio.sleep(0)
        assert client.is_closed or transport == "aiohttp"
        session = client._transport._session if transport == "aiohttp" else None  # type: ignore[attr-defined]
        assert session is None or session.closed


def test_async_core_collected_after_its_loop_closed_is_quiet(emu: ProviderEmulator) -> None:
    """Collected once asyncio.run() has returned: aiohttp's session counts as closed."""
    config = OrchestratorConfig.from_dict(config_dict(emu, "aiohttp"))

    async def main() -> AsyncLLMOrchestrator:
        orch = AsyncLLMOrchestrator(config)
        await orch.send_request([{"role": "user", "content": "hi"}])
        return orch

    holder = [asyncio.run(main())]
    session = holder[0]._http._transport._session  # type: ignore[union-attr]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the sockets of a closed loop
        holder.clear()
        collect()
    assert session.closed


async def test_async_core_started_twice_concurrently_builds_one_client(
    emu: ProviderEmulator,
) -> None:
    """Two tasks starting the core at once share one start-up and one client."""
    orch = AsyncLLMOrchestrator(OrchestratorConfig.from_dict(config_dict(emu, "aiohttp")))
    async with anyio.create_task_group() as tg:
        tg.start_soon(orch.start)
        tg.start_soon(orch.start)
    client = orch._http
    await orch.start()
    assert client is orch._http is not None
    await orch.aclose()
    assert client.is_closed
    orch._started = False  # as if it never started: a closed core still refuses
    with pytest.raises(OrchestratorError, match="closed"):
        await orch.start()
