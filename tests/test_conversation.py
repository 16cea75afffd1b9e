"""Conversations against the emulator: stored history, pinning, and cost of every turn.

Findings: review.md 17 (conv.cost misses interrupted streamed turns), newcomer.md 9
(``conversation(messages=...)``), SPEC §2.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import (
    AsyncLLMOrchestrator,
    CostTracker,
    InvalidRequestError,
    LLMOrchestrator,
    OrchestratorConfig,
    StreamInterruptedError,
)
from llmorch.testing import Fault, ProviderEmulator, Reply
from tests.current_models import prices

LONG = " ".join(["word"] * 500)


def _config(emu: ProviderEmulator, ledger: Path) -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        {
            "active_provider": "openai",
            "active_model": "gpt-5.4",
            "providers": {
                "openai": emu.config_for("openai"),
                "anthropic": emu.config_for("anthropic"),
            },
            "cost_tracking": {"log_path": str(ledger)},
            "pricing": prices("openai", "anthropic"),
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
        }
    )


@asynccontextmanager
async def _orch(tmp_path: Path) -> AsyncIterator[tuple[ProviderEmulator, AsyncLLMOrchestrator]]:
    async with (
        ProviderEmulator() as emu,
        AsyncLLMOrchestrator(_config(emu, tmp_path / "l.log")) as orch,
    ):
        yield emu, orch


@contextmanager
def _sync_orch(tmp_path: Path) -> Iterator[tuple[ProviderEmulator, LLMOrchestrator]]:
    with ProviderEmulator() as emu, LLMOrchestrator(_config(emu, tmp_path / "l.log")) as orch:
        yield emu, orch


def _ledger_cost(tmp_path: Path) -> float:
    return CostTracker(log_path=tmp_path / "l.log").get_usage_report()["total_cost"]


# --- review 17: conv.cost counts every streamed turn -------------------------------------------


async def test_review_17_conv_cost_counts_a_stream_closed_early(tmp_path: Path) -> None:
    """The review's script: the user presses "stop" after the first chunk."""
    async with _orch(tmp_path) as (emu, orch):
        emu.script("openai", "gpt-5.4", Reply(LONG))
        conv = orch.conversation()
        async with conv.stream("tell me a long story") as s:
            async for _ in s:
                break
        assert s.response.cost > 0
        assert conv.cost == s.response.cost == orch.get_session_cost()
        assert conv.messages == []  # an interrupted turn is not appended


async def test_review_17_conv_cost_counts_broken_and_cancelled_streams(tmp_path: Path) -> None:
    """A stream cut by the network, and one whose task is cancelled, are counted too."""
    async with _orch(tmp_path) as (emu, orch):
        emu.script("openai", "gpt-5.4", Fault.cut(after=3, text=LONG), Reply(LONG), Reply("ok"))
        conv = orch.conversation()
        with pytest.raises(StreamInterruptedError):
            async for _ in conv.stream("one"):
                pass
        broken = conv.cost
        assert broken > 0

        got_one = anyio.Event()

        async def consume() -> None:
            async for _ in conv.stream("two"):
                got_one.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await got_one.wait()
            tg.cancel_scope.cancel()
        assert conv.cost > broken
        assert conv.messages == []

        async for _ in conv.stream("three"):  # and a complete one: counted and appended
            pass
        assert [m["content"] for m in conv.messages] == ["three", "ok"]
    assert conv.cost == pytest.approx(_ledger_cost(tmp_path), abs=1e-12)
    assert conv.cost == pytest.approx(orch.get_session_cost(), abs=1e-12)


def test_review_17_sync_conv_cost_counts_a_stream_left_early(tmp_path: Path) -> None:
    """The sync facade: a conversation stream left after one chunk is billed into conv.cost."""
    with _sync_orch(tmp_path) as (emu, orch):
        emu.script("openai", "gpt-5.4", Reply(LONG), Reply("fine"))
        conv = orch.conversation()
        with conv.stream("long") as s:
            next(iter(s))
        assert conv.cost > 0
        assert conv.cost == pytest.approx(orch.get_session_cost(), abs=1e-12)
        assert conv.messages == []
        assert list(conv.stream("short")) == ["fine"]
        assert conv.cost == pytest.approx(orch.get_session_cost(), abs=1e-12)
        assert [m["content"] for m in conv.messages] == ["short", "fine"]


# --- newcomer 9: a conversation can start from stored history ----------------------------------

STORED = [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
]


async def test_newcomer_9_conversation_continues_stored_history(tmp_path: Path) -> None:
    """A stateless backend rebuilds the conversation from conv.messages on every request."""
    async with _orch(tmp_path) as (emu, orch):
        emu.script("openai", "gpt-5.4", Reply("Fine."), Reply("Bye."))
        conv = orch.conversation(messages=STORED)
        await conv.send("How are you?")
        stored = conv.messages
        again = orch.conversation(system="Be terse.", messages=stored)  # the same system: fine
        await again.send("Bye")
        sent = [r.body["messages"] for r in emu.requests]
    assert sent[0] == [*STORED, {"role": "user", "content": "How are you?"}]
    assert sent[1] == [
        *STORED,
        {"role": "user", "content": "How are you?"},
        {"role": "assistant", "content": "Fine."},
        {"role": "user", "content": "Bye"},
    ]
    assert again.messages[-1] == {"role": "assistant", "content": "Bye."}
    assert STORED[1:] == conv.messages[1:3]  # the caller's list was copied, not kept
    assert len(STORED) == 3


def test_newcomer_9_sync_conversation_continues_stored_history(tmp_path: Path) -> None:
    """The sync facade takes messages= too, and max_messages applies to the stored history."""
    with _sync_orch(tmp_path) as (emu, orch):
        emu.script("openai", "gpt-5.4", Reply("Fine."))
        conv = orch.conversation(messages=STORED, max_messages=1)
        assert conv.messages == [STORED[0]]  # an assistant turn never opens the kept history
        conv.send("How are you?")
        assert emu.requests[-1].body["messages"] == [
            STORED[0],
            {"role": "user", "content": "How are you?"},
        ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"messages": [{"role": "user"}]}, "messages[0] has no 'content'"),
        ({"messages": [STORED[1], {"role": "robot", "content": "x"}]}, "messages[1].role"),
        (
            {"messages": [STORED[1], {"role": "tool", "tool_call_id": "c1", "content": "x"}]},
            "messages[1].tool_call_id: 'c1' has no tool call",
        ),
        ({"messages": [STORED[1], {"role": "user", "content": 3}]}, "messages[1].content"),
        ({"messages": "hi"}, "messages must be a list"),
        ({"messages": [*STORED[1:], STORED[0]]}, "messages[2] is a system message"),
        ({"messages": [STORED[0], STORED[0]]}, "messages[1] is a system message"),
        ({"messages": STORED, "system": "Be verbose."}, "two different system messages"),
        ({"system": 3}, "system must be a str"),
        ({"max_messages": 0}, "max_messages must be at least 1"),
    ],
)
async def test_newcomer_9_stored_history_is_checked_before_any_network(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    """A malformed history is refused with its path named, and nothing is sent."""
    async with _orch(tmp_path) as (emu, orch):
        with pytest.raises(InvalidRequestError, match=message.replace("[", r"\[")):
            orch.conversation(**kwargs)
        assert emu.requests == []


async def test_newcomer_9_empty_history_and_system_only(tmp_path: Path) -> None:
    """An empty stored history is a new conversation; a lone system message is its system."""
    async with _orch(tmp_path) as (_, orch):
        assert orch.conversation(messages=[]).messages == []
        assert orch.conversation(messages=(), system="s").messages == [
            {"role": "system", "content": "s"}
        ]
        assert orch.conversation(messages=STORED[:1]).messages == STORED[:1]


async def test_spec_2_1_conv_send_provider_is_refused(tmp_path: Path) -> None:
    """conv.send(provider=...) and conv.stream(provider=...) are refused before any network call.

    model= picks the model for one turn, within the pinned provider.
    """
    async with _orch(tmp_path) as (emu, orch):
        conv = orch.conversation()
        with pytest.raises(InvalidRequestError, match="pinned to provider 'openai'"):
            await conv.send("hi", provider="anthropic")
        with pytest.raises(InvalidRequestError, match="pinned to provider 'openai'"):
            conv.stream("hi", provider="openai")
        with pytest.raises(InvalidRequestError, match="the user message must be a str"):
            await conv.send(["hi"])  # type: ignore[arg-type]
        assert emu.requests == []
        await conv.send("hi", model="gpt-5.4-mini")
        await conv.send("again")
        assert [(r.dialect, r.model) for r in emu.requests] == [
            ("openai", "gpt-5.4-mini"),
            ("openai", "gpt-5.4"),
        ]
