"""The tool loop: orch.run_tools, Conversation(tools=...), and their sync twins (SPEC §2.9)."""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from llmorch import (
    AllFallbacksFailedError,
    AsyncLLMOrchestrator,
    InvalidRequestError,
    LLMOrchestrator,
    MaxTurnsExceededError,
    Tool,
    ToolLoopResult,
    events,
)
from llmorch.messages import validate_messages
from llmorch.testing import Reply, ToolUse
from tests.tool_provider import ScriptedProvider, config

USER = [{"role": "user", "content": "What is 2 + 3, and 4 * 5?"}]


def ledger() -> list[dict[str, Any]]:
    path = Path("ledger.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


async def mul(a: int, b: int) -> dict[str, int]:
    """Multiply two numbers."""
    return {"product": a * b}


def fake(orch: AsyncLLMOrchestrator, *replies: Reply) -> ScriptedProvider:
    adapter = orch._adapter_map()["fake"]
    assert isinstance(adapter, ScriptedProvider)
    adapter.replies.extend(replies)
    return adapter


TWO_CALLS = Reply(
    "Let me compute.",
    tool_calls=(ToolUse("add", {"a": 2, "b": 3}), ToolUse("mul", {"a": 4, "b": 5})),
)


# -- run_tools ----------------------------------------------------------------------------------


async def test_run_tools_runs_parallel_calls_and_returns_the_final_answer() -> None:
    """Two calls in one turn run, their results go back, the model's next answer ends the loop."""
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, TWO_CALLS, Reply("5 and 20."))
        result = await orch.run_tools(USER, tools=[add, mul], tags={"job": "math"})
    assert isinstance(result, ToolLoopResult)
    assert "5 and 20." == result.content
    assert "stop" == result.finish_reason
    assert [] == result.tool_calls
    assert 2 == len(result.turns)
    assert ["user", "assistant", "tool", "tool", "assistant"] == [
        m["role"] for m in result.messages
    ]
    first = result.turns[0]
    assert result.messages[1] == first.message
    assert "Let me compute." == result.messages[1]["content"]
    assert [
        {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "5"},
        {"role": "tool", "tool_call_id": first.tool_calls[1].id, "content": '{"product": 20}'},
    ] == result.messages[2:4]
    assert {"role": "assistant", "content": "5 and 20."} == result.messages[4]
    # the second turn sent the typed history, tool names resolved, as a fresh validation would
    second = adapter.requests[1]
    assert validate_messages(result.messages[:4]) == second.messages
    assert ["add", "mul"] == [m.tool_name for m in second.messages[2:4]]
    assert ("add", "mul") == tuple(t.name for t in second.tools)
    # one ledger record per turn, tagged; the costs sum
    records = ledger()
    assert 2 == len(records)
    assert [{"job": "math"}] * 2 == [r["tags"] for r in records]
    assert result.cost > 0
    assert pytest.approx(sum(t.cost for t in result.turns)) == result.cost
    assert pytest.approx(sum(r["cost"] for r in records)) == result.cost
    total = sum(t.tokens_used["total"] for t in result.turns)
    assert total == result.tokens_used["total"]


async def test_the_caller_messages_are_not_changed() -> None:
    """run_tools copies the history it is given."""
    messages = [dict(USER[0])]
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, TWO_CALLS, Reply("done"))
        result = await orch.run_tools(messages, tools=[add, mul])
    assert [dict(USER[0])] == messages
    assert 5 == len(result.messages)


async def test_max_turns_exceeded_carries_the_history_and_every_turn() -> None:
    """Calls still pending at max_turns raise, with the unanswered calls last in .messages."""
    ran: list[int] = []

    def count(n: int) -> int:
        ran.append(n)
        return n

    loop = [Reply(tool_calls=(ToolUse("count", {"n": i}),)) for i in range(3)]
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, *loop)
        with pytest.raises(MaxTurnsExceededError, match="max_turns=2") as caught:
            await orch.run_tools(USER, tools=[count], max_turns=2)
    error = caught.value
    assert 2 == len(error.turns) == adapter.calls == len(ledger())
    assert [0] == ran  # the last turn's call is not run
    assert ["user", "assistant", "tool", "assistant"] == [m["role"] for m in error.messages]
    assert error.messages[-1]["tool_calls"][0]["function"]["arguments"] == '{"n":1}'


async def test_a_single_turn_loop_ends_at_once() -> None:
    """An answer without tool calls on the first turn is the result (max_turns=1 is enough)."""
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("no tools needed"))
        result = await orch.run_tools(USER, tools=[add], max_turns=1)
    assert "no tools needed" == result.content
    assert [result.turns[0].message] == result.messages[1:]
    assert 1 == len(ledger())


async def test_reasoning_state_goes_back_with_each_turn() -> None:
    """Each turn's reasoning items are in the next request, stamped with where they came from."""
    thinking = Reply(
        tool_calls=(ToolUse("add", {"a": 1, "b": 1}),), reasoning="Adding is a tool's job."
    )
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, thinking, Reply("2", reasoning="Done."))
        result = await orch.run_tools(USER, tools=[add], reasoning="low")
    (item,) = adapter.requests[1].messages[1].reasoning
    provider_type = "tests.tool_provider:ScriptedProvider"
    assert ("Adding is a tool's job.", "sig-1") == (item.text, item.signature)
    assert (provider_type, "fake-1") == (item.provider_type, item.model)
    assert [item.to_dict()] == result.messages[1]["reasoning"]
    assert "Done." == result.reasoning
    assert validate_messages(result.messages[:3]) == adapter.requests[1].messages
    assert adapter.requests[0].reasoning == adapter.requests[1].reasoning


async def test_tool_failures_go_back_to_the_model_as_error_results() -> None:
    """A raising tool, bad arguments, malformed JSON and an unknown tool are results, not raises."""

    def boom(reason: str) -> str:
        raise ValueError(f"cannot: {reason}")

    calls = (
        ToolUse("boom", {"reason": "disk full"}),
        ToolUse("add", {"a": "two", "b": 3}),
        ToolUse("add", {"a": 1, "b": 2, "c": 3}),
        ToolUse("add", '{"a": 1, "b":'),
        ToolUse("nope", {}),
        ToolUse("add", {"a": "7", "b": 1}),  # coerced like a pydantic call: "7" -> 7
    )
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply(tool_calls=calls), Reply("sorry"))
        result = await orch.run_tools(USER, tools=[boom, add])
    results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert "Error: tool 'boom' raised ValueError: cannot: disk full" == results[0]
    assert results[1].startswith("Error: invalid arguments for tool 'add': a: Input should be")
    assert "c: Unexpected keyword argument" in results[2]
    assert results[3].startswith("Error: the arguments for tool 'add' could not be read:")
    assert "Error: there is no tool named 'nope' (the tools are: add, boom)" == results[4]
    assert "8" == results[5]
    assert "sorry" == result.content


async def test_results_are_json_unless_str() -> None:
    """Return values: str as is, everything else json.dumps'ed (pydantic models included)."""

    class Point(BaseModel):
        x: int
        y: int

    def kinds(kind: str) -> object:
        return {
            "str": "plain text",
            "none": None,
            "list": [1, "a"],
            "model": Point(x=1, y=2),
            "object": object(),
        }[kind]

    uses = tuple(ToolUse("kinds", {"kind": k}) for k in ("str", "none", "list", "model", "object"))
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply(tool_calls=uses), Reply("ok"))
        result = await orch.run_tools(USER, tools=[kinds])
    results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert ["plain text", "null", '[1, "a"]', '{"x": 1, "y": 2}'] == results[:4]
    assert results[4].startswith("Error: tool 'kinds' returned a value that is not JSON")


async def test_sync_tools_run_in_a_worker_thread_and_async_ones_on_the_loop() -> None:
    """Plain functions never block the event loop; coroutine functions run on it."""
    threads: dict[str, int] = {}

    def blocking() -> str:
        threads["sync"] = threading.get_ident()
        return "s"

    async def native() -> str:
        threads["async"] = threading.get_ident()
        return "a"

    loop_thread = threading.get_ident()
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply(tool_calls=(ToolUse("blocking"), ToolUse("native"))), Reply("ok"))
        await orch.run_tools(USER, tools=[blocking, native])
    assert loop_thread == threads["async"]
    assert loop_thread != threads["sync"]


async def test_parallel_calls_overlap() -> None:
    """The calls of one turn run at the same time: each waits for the other to have started."""
    started: list[str] = []
    both = anyio.Event()
    barrier = threading.Barrier(2, timeout=5)

    async def wait_a() -> str:
        started.append("a")
        if len(started) == 2:
            both.set()
        with anyio.fail_after(5):
            await both.wait()
        return "a ok"

    async def wait_b() -> str:
        return await wait_a()

    def sync_1() -> str:
        barrier.wait()  # BrokenBarrierError after 5 s if the other never runs alongside
        return "1 ok"

    def sync_2() -> str:
        return sync_1()

    uses = tuple(ToolUse(n) for n in ("wait_a", "wait_b", "sync_1", "sync_2"))
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply(tool_calls=uses), Reply("ok"))
        with anyio.fail_after(10):
            result = await orch.run_tools(USER, tools=[wait_a, wait_b, sync_1, sync_2])
    assert ["a ok", "a ok", "1 ok", "1 ok"] == [
        m["content"] for m in result.messages if m["role"] == "tool"
    ]


async def test_tools_may_be_tool_values_with_functions() -> None:
    """A Tool with function= runs; its own name and schema are what the model sees."""
    tool = Tool(
        "sum_two",
        "Adds.",
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
        function=add,
    )
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply(tool_calls=(ToolUse("sum_two", {"a": 1, "b": 1}),)), Reply("2"))
        result = await orch.run_tools(USER, tools=[tool])
    assert "2" == result.messages[2]["content"]
    assert (tool,) == adapter.requests[0].tools


async def test_methods_partials_and_callable_objects_are_validated_too() -> None:
    """Arguments are checked against the signature a bound method, a functools.partial or an
    object with an async __call__ really has."""

    class Service:
        def repeat(self, word: str, times: int = 1) -> str:
            return word * times

        async def __call__(self, x: int) -> int:
            return x + 1

    service = Service()
    tools = [
        Tool("repeat", function=service.repeat),
        Tool("bump", function=service),
        Tool("triple", function=functools.partial(lambda k, v: k * v, 3)),
        Tool("scale", function=functools.partial(mul, 4)),
    ]
    uses = (
        ToolUse("repeat", {"word": "ab", "times": "2"}),
        ToolUse("bump", {"x": "4"}),
        ToolUse("bump", {"x": "four"}),
        ToolUse("triple", {"v": 5}),
        ToolUse("scale", {"b": 5}),
        ToolUse("scale", {"a": 1, "b": 5}),
    )
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply(tool_calls=uses), Reply("ok"))
        result = await orch.run_tools(USER, tools=tools)
    results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert ["abab", "5"] == results[:2]
    assert results[2].startswith("Error: invalid arguments for tool 'bump': x: Input should be")
    assert ["15", '{"product": 20}'] == results[3:5]
    assert "a: Unexpected keyword argument" in results[5]


async def test_a_forced_tool_choice_holds_for_the_first_turn_only() -> None:
    """tool_choice='required' forces the first call; later turns let the model answer."""
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply(tool_calls=(ToolUse("add", {"a": 1, "b": 1}),)), Reply("2"))
        await orch.run_tools(USER, tools=[add], tool_choice="required", temperature=0.5)
    first, second = adapter.requests
    assert first.tool_choice is not None and first.tool_choice.kind == "required"
    assert second.tool_choice is None
    assert 0.5 == first.temperature == second.temperature


def test_the_loop_runs_under_trio() -> None:
    """Tools run concurrently and in worker threads under trio too (anyio throughout)."""

    async def main() -> ToolLoopResult:
        async with AsyncLLMOrchestrator(config()) as orch:
            fake(orch, TWO_CALLS, Reply("5 and 20."))
            return await orch.run_tools(USER, tools=[add, mul])

    result = anyio.run(main, backend="trio")
    results = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert ["5", '{"product": 20}'] == results
    assert 2 == len(ledger())


async def test_cancelling_the_loop_cancels_its_running_tools() -> None:
    """A cancelled run_tools stops the tools of the current turn and sends no further turn."""
    entered = anyio.Event()
    cancelled: list[bool] = []

    async def slow() -> str:
        entered.set()
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise
        return "never"

    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, Reply(tool_calls=(ToolUse("slow"), ToolUse("slow"))), Reply("no"))
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: orch.run_tools(USER, tools=[slow]))
            with anyio.fail_after(5):
                await entered.wait()
            group.cancel_scope.cancel()
    assert [True, True] == cancelled
    assert 1 == adapter.calls == len(ledger())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"tools": [{"type": "function", "function": {"name": "x"}}]}, "no Python function"),
        ({"tools": []}, "run_tools needs tools="),
        ({"tools": [add], "max_turns": 0}, "max_turns must be an int >= 1"),
        ({"tools": [add], "n": 2}, "extra_body"),
        ({"tools": [add, add]}, "duplicate tool name"),
    ],
)
async def test_bad_loop_arguments_are_refused_before_any_call(
    arguments: dict[str, Any], message: str
) -> None:
    """A tool without a function, no tools, max_turns < 1, an unknown kwarg: refused up front."""
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        with pytest.raises(InvalidRequestError, match=message):
            await orch.run_tools(USER, **arguments)
    assert 0 == adapter.calls


# -- conversations ----------------------------------------------------------------------------


async def test_conversation_with_tools_keeps_every_turn_and_continues() -> None:
    """send() runs the loop; the history holds the tool turns; the next send builds on it."""
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch, TWO_CALLS, Reply("5 and 20."), Reply("You are welcome."))
        conv = orch.conversation(system="Use the tools.", tools=[add, mul])
        first = await conv.send("Compute.")
        assert isinstance(first, ToolLoopResult)
        assert ["system", "user", "assistant", "tool", "tool", "assistant"] == [
            m["role"] for m in conv.messages
        ]
        second = await conv.send("Thanks!")
    assert "You are welcome." == second.content
    assert 8 == len(conv.messages)
    assert 3 == len(adapter.requests) == len(ledger())
    assert validate_messages(conv.messages[:7]) == adapter.requests[2].messages
    assert pytest.approx(first.cost + second.cost) == conv.cost


async def test_a_failed_tool_loop_leaves_the_history_but_counts_the_cost() -> None:
    """MaxTurnsExceededError (or a later turn's failure) appends nothing; spent turns count."""
    looping = [Reply(tool_calls=(ToolUse("add", {"a": 1, "b": i}),)) for i in range(2)]
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, *looping)
        conv = orch.conversation(tools=[add], max_turns=2)
        with pytest.raises(MaxTurnsExceededError):
            await conv.send("loop")
        assert [] == conv.messages
        assert conv.cost > 0
        assert pytest.approx(sum(r["cost"] for r in ledger())) == conv.cost

        spent = conv.cost
        adapter = fake(orch, Reply(tool_calls=(ToolUse("add", {"a": 1, "b": 1}),)))
        original = adapter.send_request
        calls = 0

        async def fail_second(request: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise InvalidRequestError("bad turn", provider="fake", model=request.model)
            return await original(request)

        adapter.send_request = fail_second  # type: ignore[method-assign]
        with pytest.raises((InvalidRequestError, AllFallbacksFailedError)):
            await conv.send("again")
        assert [] == conv.messages
        assert conv.cost > spent


async def test_a_conversation_refuses_unusable_tools_when_created() -> None:
    """A tool without a function (or max_turns < 1) is refused before the first send."""
    async with AsyncLLMOrchestrator(config()) as orch:
        with pytest.raises(InvalidRequestError, match="no Python function"):
            orch.conversation(tools=[{"type": "function", "function": {"name": "x"}}])
        with pytest.raises(InvalidRequestError, match="max_turns"):
            orch.conversation(tools=[add], max_turns=0)


async def test_conversation_stream_refuses_tools() -> None:
    """A conversation with tools runs its loop in send(); stream() says so."""
    async with AsyncLLMOrchestrator(config()) as orch:
        adapter = fake(orch)
        conv = orch.conversation(tools=[add])
        with pytest.raises(InvalidRequestError, match=r"use send\(\)"):
            conv.stream("hi")
        with pytest.raises(InvalidRequestError, match="set when the conversation was created"):
            await conv.send("hi", tools=[mul])
    assert 0 == adapter.calls


def _turns(*roles: str) -> list[dict[str, Any]]:
    """A history with these roles (assistant turns before tool turns carry the calls)."""
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for i, role in enumerate(roles):
        if role == "tool":
            out.append({"role": "tool", "tool_call_id": pending.pop(0)["id"], "content": "r"})
        elif role == "call":
            calls = [
                {"id": f"c{i}_{j}", "type": "function", "function": {"name": "t", "arguments": ""}}
                for j in range(2)
            ]
            pending = list(calls)
            out.append({"role": "assistant", "content": None, "tool_calls": calls})
        else:
            out.append({"role": role, "content": f"{role} {i}"})
    return out


@pytest.mark.parametrize("keep", range(1, 10))
async def test_max_messages_never_splits_a_tool_turn(keep: int) -> None:
    """Trimming drops whole turns: the kept history opens with a user turn, and every kept
    tool result has its assistant call before it."""
    history = _turns("user", "call", "tool", "tool", "assistant", "user", "call", "tool", "tool")
    history += [{"role": "assistant", "content": "end"}]
    async with AsyncLLMOrchestrator(config()) as orch:
        conv = orch.conversation(messages=history, max_messages=keep, tools=[add])
    kept = conv.messages
    assert len(kept) <= keep
    assert kept == history[len(history) - len(kept) :]
    if kept:
        assert "user" == kept[0]["role"]
        validate_messages(kept)
    assert len(kept) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 5, 6: 5, 7: 5, 8: 5, 9: 5}[keep]


# -- streams ------------------------------------------------------------------------------------


async def test_stream_events_of_a_tool_call_turn() -> None:
    """stream.events() turns the adapter's tool events into the typed events, in order."""
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("Checking", tool_calls=(ToolUse("add", {"a": 1, "b": 2}, id="c1"),)))
        stream = orch.send_streaming_request(USER, tools=[add])
        got = [event async for event in stream.events()]
    kinds = [type(e).__name__ for e in got]
    assert [
        "TextDelta",
        "ToolCallStarted",
        "ToolCallDelta",
        "ToolCallDelta",
        "ToolCallDone",
        "Usage",
        "Finish",
    ] == kinds
    done = got[4]
    assert isinstance(done, events.ToolCallDone)
    assert ("c1", "add", {"a": 1, "b": 2}) == (done.call.id, done.call.name, done.call.arguments)
    assert events.Finish("tool_calls") == got[-1]
    assert [done.call] == stream.response.tool_calls


async def test_streamed_reasoning_state_is_stamped_with_the_attempt_model() -> None:
    """A stream's reasoning items name the provider type and the model that answered, so
    they can go back to the same family."""
    async with AsyncLLMOrchestrator(config()) as orch:
        fake(orch, Reply("ok", reasoning="Short thought."))
        stream = orch.send_streaming_request(USER, reasoning="low")
        got = [event async for event in stream.events()]
    assert events.ReasoningDelta("Short thought.") == got[0]
    (item,) = stream.response.reasoning_items
    assert ("Short thought.", "sig-1") == (item.text, item.signature)
    assert ("tests.tool_provider:ScriptedProvider", "fake-1") == (item.provider_type, item.model)


# -- the sync facade ----------------------------------------------------------------------------


def sync_fake(orch: LLMOrchestrator, *replies: Reply) -> ScriptedProvider:
    return fake(orch._async, *replies)


def test_sync_run_tools_matches_async() -> None:
    """LLMOrchestrator.run_tools runs the same loop (sync tools in a worker thread)."""
    caller = threading.get_ident()
    seen: list[int] = []

    def where() -> str:
        seen.append(threading.get_ident())
        return "here"

    with LLMOrchestrator(config()) as orch:
        sync_fake(orch, Reply(tool_calls=(ToolUse("where"),)), Reply("done"))
        result = orch.run_tools(USER, tools=[where], tags={"t": "1"})
        portal = orch._state.current().thread.ident
    assert isinstance(result, ToolLoopResult)
    assert ("done", 2) == (result.content, len(result.turns))
    assert seen and seen[0] not in (caller, portal)
    assert [{"t": "1"}] * 2 == [r["tags"] for r in ledger()]


def test_sync_conversation_with_tools() -> None:
    """SyncConversation(tools=...) runs the loop and keeps the tool turns."""
    with LLMOrchestrator(config()) as orch:
        sync_fake(orch, TWO_CALLS, Reply("5 and 20."))
        conv = orch.conversation(tools=[add, mul])
        assert "5 and 20." == conv.send("Compute.").content
        assert ["user", "assistant", "tool", "tool", "assistant"] == [
            m["role"] for m in conv.messages
        ]
        with pytest.raises(InvalidRequestError, match=r"use send\(\)"):
            conv.stream("more")
    assert 2 == len(ledger())


def test_sync_stream_events_and_the_one_consumer_rule() -> None:
    """SyncResponseStream.events() yields typed events; mixing it with iteration is refused."""
    with LLMOrchestrator(config()) as orch:
        sync_fake(
            orch,
            Reply("a b", tool_calls=(ToolUse("add", {"a": 1, "b": 2}),)),
            Reply("x y z"),
            Reply("p q r"),
        )
        stream = orch.send_streaming_request(USER, tools=[add])
        got = list(stream.events())
        assert [events.TextDelta("a "), events.TextDelta("b ")] == got[:2]
        assert events.Finish("tool_calls") == got[-1]
        assert "add" == stream.response.tool_calls[0].name
        with pytest.raises(RuntimeError, match="one consumer"):
            next(iter(stream))

        texts = orch.send_streaming_request(USER)
        assert "x " == next(texts)
        with pytest.raises(RuntimeError, match="one consumer"):
            texts.events()
        texts.close()

        for _event in orch.send_streaming_request(USER).events():
            break  # left early: the dropped stream records the call at once
        records = ledger()
    assert [True, False, False] == [r["complete"] for r in records]
