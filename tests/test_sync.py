from __future__ import annotations

import asyncio
import inspect
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llmorch import (
    AsyncLLMOrchestrator,
    AuthenticationError,
    Conversation,
    LLMOrchestrator,
    OrchestratorConfig,
    OrchestratorError,
    ResponseStream,
    StreamInterruptedError,
    SyncConversation,
    SyncResponseStream,
)
from tests.conftest import base_config
from tests.test_orchestrator import FINISH, MESSAGES, OPENAI, USAGE, completion, delta, sse

ASYNC_TO_SYNC = {"aclose": "close"}
ASYNC_ONLY = {"start"}


def make() -> LLMOrchestrator:
    return LLMOrchestrator(OrchestratorConfig.from_dict(base_config()))


def portal_threads() -> list[threading.Thread]:
    # An idle anyio worker (start() builds the client in one) stops by itself once its loop
    # has ended, and so does trio's thread cache ("Trio thread N", left by earlier trio tests);
    # only the portal thread is the orchestrator's to stop.
    return [
        t
        for t in threading.enumerate()
        if t is not threading.current_thread()
        and t.name != "AnyIO worker thread"
        and not t.name.startswith("Trio thread")
    ]


def test_sync_and_async_expose_the_same_public_methods() -> None:
    """Parity: every public async method has a sync twin with the same parameters."""

    def methods(cls: type) -> set[str]:
        return {n for n, v in vars(cls).items() if not n.startswith("_") and inspect.isfunction(v)}

    async_names = methods(AsyncLLMOrchestrator) - ASYNC_ONLY
    sync_names = methods(LLMOrchestrator)
    assert {ASYNC_TO_SYNC.get(n, n) for n in async_names} == sync_names
    for name in async_names:
        a = getattr(AsyncLLMOrchestrator, name)
        s = getattr(LLMOrchestrator, ASYNC_TO_SYNC.get(name, name))
        assert list(inspect.signature(a).parameters) == list(inspect.signature(s).parameters)


def test_sync_conversation_and_stream_have_the_async_names() -> None:
    """Parity for conversations (tools= included) and streams (events() included)."""

    def methods(cls: type) -> dict[str, list[str]]:
        return {
            n: list(inspect.signature(v).parameters)
            for n, v in vars(cls).items()
            if not n.startswith("_") and inspect.isfunction(v)
        }

    conversation = methods(Conversation)
    assert {"send", "stream"} <= set(conversation)
    sync_conversation = methods(SyncConversation)
    assert conversation == {n: sync_conversation[n] for n in conversation}
    for attribute in ("messages", "cost", "provider", "tools"):
        assert hasattr(SyncConversation, attribute)
    assert "tools" in inspect.signature(Conversation).parameters
    stream, sync_stream = methods(ResponseStream), methods(SyncResponseStream)
    for name in ("events", "add_done_callback"):
        assert stream[name] == sync_stream[name]
    assert isinstance(vars(SyncResponseStream)["response"], property)
    assert "run_tools" in methods(LLMOrchestrator)


def test_sync_matches_async_results() -> None:
    """The sync facade returns the same response the async core does."""
    with respx.mock() as mock:
        mock.post(OPENAI).respond(200, json=completion("same"))
        with make() as orch:
            sync_response = orch.send_request(MESSAGES, max_tokens=5)

        async def run() -> Any:
            async with AsyncLLMOrchestrator(OrchestratorConfig.from_dict(base_config())) as orch:
                return await orch.send_request(MESSAGES, max_tokens=5)

        async_response = asyncio.run(run())
    with make() as orch:
        for attribute in ("config", "session_id", "cost_tracker", "registry"):
            assert hasattr(orch, attribute)
            assert hasattr(AsyncLLMOrchestrator(orch.config), attribute)
    for field in ("content", "model", "provider", "tokens_used", "finish_reason", "cost"):
        assert getattr(async_response, field) == getattr(sync_response, field)
    assert 2 == len(Path("ledger.jsonl").read_text().splitlines())


def test_sync_works_inside_a_thread_with_a_running_event_loop() -> None:
    """Called from inside a running event loop (Jupyter, FastAPI), the facade still works."""
    with respx.mock() as mock:
        mock.post(OPENAI).respond(200, json=completion("inside"))

        async def main() -> str:
            with make() as orch:
                return orch.send_request(MESSAGES).content

        assert "inside" == asyncio.run(main())


def test_sync_streaming_and_close_leave_no_thread_or_connection() -> None:
    """Sync streams yield str chunks; close() joins the portal thread and closes the client."""
    before = set(portal_threads())
    with respx.mock() as mock:
        mock.post(OPENAI).mock(
            return_value=httpx.Response(200, content=sse(delta("a"), delta("b"), FINISH, USAGE))
        )
        orch = make()
        stream = orch.send_streaming_request(MESSAGES)
        assert ["a", "b"] == list(stream)
        assert "ab" == stream.response.content
        assert 3 == stream.response.tokens_used["completion"]
        assert orch._async._adapters is not None
        http = orch._async._adapters._http
        orch.close()
        orch.close()
    assert http is not None and http.is_closed
    assert set(portal_threads()) == before
    with pytest.raises(OrchestratorError, match="closed"):
        orch.send_request(MESSAGES)


def test_sync_stream_closed_early_records_and_releases() -> None:
    """Leaving a sync stream's with-block early records one incomplete call."""
    with respx.mock() as mock:
        mock.post(OPENAI).mock(
            return_value=httpx.Response(200, content=sse(delta("a"), delta("b"), FINISH, USAGE))
        )
        with make() as orch:
            with orch.send_streaming_request(MESSAGES) as stream:
                assert "a" == next(stream)
            assert [] == list(stream)
            never_started = orch.send_streaming_request(MESSAGES)
            never_started.close()
    (record,) = [json.loads(line) for line in Path("ledger.jsonl").read_text().splitlines()]
    assert record["complete"] is False


def test_sync_stream_errors_propagate() -> None:
    """An interruption in a sync stream raises StreamInterruptedError to the caller."""
    body = sse(delta("x"), {"error": {"message": "gone", "type": "server_error"}})
    with respx.mock() as mock:
        mock.post(OPENAI).mock(return_value=httpx.Response(200, content=body))
        with make() as orch, pytest.raises(StreamInterruptedError):
            list(orch.send_streaming_request(MESSAGES))


def test_sync_conversation_models_and_costs() -> None:
    """The sync conversation, model listing and session cost mirror the async ones."""
    with respx.mock() as mock:
        mock.post(OPENAI).mock(
            side_effect=[
                httpx.Response(200, json=completion("hi")),
                httpx.Response(200, content=sse(delta("s"), FINISH, USAGE)),
                httpx.Response(401, json={"error": {"message": "no"}}),
            ]
        )
        mock.get("https://api.openai.com/v1/models").respond(200, json={"data": [{"id": "gpt-4o"}]})
        mock.get("https://api.anthropic.com/v1/models").respond(200, json={"data": []})
        with make() as orch:
            conv = orch.conversation("sys")
            conv.send("a")
            assert ["s"] == list(conv.stream("b"))
            with pytest.raises(AuthenticationError):
                conv.send("c")
            assert ["sys", "a", "hi", "b", "s"] == [m["content"] for m in conv.messages]
            assert conv.cost == pytest.approx(orch.get_session_cost())
            assert "openai" == conv.provider
            assert ["gpt-4o"] == orch.get_available_models()
            orch.refresh_models()
            assert orch.registry is orch._async.registry
            assert orch.cost_tracker is orch._async.cost_tracker
            assert orch.session_id in repr(orch)


def test_sync_constructor_failure_leaves_no_thread(tmp_path: Path) -> None:
    """A config error is raised from the constructor before any thread starts."""
    before = set(portal_threads())
    with pytest.raises(OrchestratorError):
        LLMOrchestrator(tmp_path / "missing.yaml")
    assert set(portal_threads()) == before


# Fork, exit and leak behaviour is tested over real sockets in tests/test_sync_lifetime.py.


def test_close_with_a_stream_left_open_does_not_hang() -> None:
    """close() cancels a half-read sync stream, records it, and stops the thread."""
    before = set(portal_threads())
    with respx.mock() as mock:
        mock.post(OPENAI).mock(
            return_value=httpx.Response(200, content=sse(delta("a"), delta("b"), FINISH, USAGE))
        )
        orch = make()
        stream = orch.conversation().stream("hi")
        assert "a" == next(stream)
        orch.close()
    assert set(portal_threads()) == before
    (record,) = [json.loads(line) for line in Path("ledger.jsonl").read_text().splitlines()]
    assert record["complete"] is False


def test_sync_tags_reach_the_ledger() -> None:
    """The sync facade passes tags= through to the ledger."""
    with respx.mock() as mock:
        mock.post(OPENAI).respond(200, json=completion())
        with make() as orch:
            orch.send_request(MESSAGES, tags={"team": "a"})
    (record,) = [json.loads(line) for line in Path("ledger.jsonl").read_text().splitlines()]
    assert {"team": "a"} == record["tags"]
