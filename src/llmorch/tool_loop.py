"""The tool loop (SPEC §2.9): ask the model, run the tools it calls, send the results back.

:meth:`~llmorch.AsyncLLMOrchestrator.run_tools` and a :class:`~llmorch.Conversation` with
``tools=`` use it. Each model turn is one ordinary call (one ledger record); the tools of one
turn run concurrently — coroutine functions awaited on the event loop, plain functions in a
worker thread — and whatever goes wrong in a tool (arguments that do not fit its signature, an
exception it raises, a name that is not a tool) goes back to the model as that call's result,
never raised to the caller.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import time
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from llmorch.exceptions import InvalidRequestError, MaxTurnsExceededError
from llmorch.messages import ChatMessage, TextPart
from llmorch.request import ChatRequest
from llmorch.tools import Tool, ToolCall
from llmorch.types import LLMResponse, Message

__all__ = ["ToolLoopResult", "ToolRunner", "check_max_turns", "run_loop", "tool_result"]

logger = logging.getLogger("llmorch")


@dataclass
class ToolLoopResult(LLMResponse):
    """The final answer of a tool loop, with the whole exchange.

    The answer's own fields (``content``, ``model``, ``finish_reason``, ``request_id``,
    ``reasoning``, ``message``, ...) are the final turn's. ``cost`` and ``tokens_used`` are the
    totals of every turn, and ``latency_s`` is the loop's wall-clock time (tools included).

    Attributes:
        messages: The full history: the messages given, then every assistant turn and every
            tool result, ending with the final answer (ready to continue the chat).
        turns: Every model turn's response, in order (the last is the final answer); their
            costs sum to ``cost``.
    """

    messages: list[Message] = field(default_factory=list, repr=False)
    turns: list[LLMResponse] = field(default_factory=list, repr=False)


def _validator(fn: Callable[..., Any], name: str) -> Any:
    """A pydantic validator of a call's arguments against ``fn``'s signature.

    Validating a dict with it checks and coerces the arguments like a call would and returns
    the bound arguments, without calling ``fn``.
    """
    from pydantic import TypeAdapter

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"tool {name!r}: its function has no signature: {exc}") from exc

    @functools.wraps(fn)
    def bind(*args: Any, **kwargs: Any) -> inspect.BoundArguments:
        return signature.bind(*args, **kwargs)

    hints = _hints(fn)
    bind.__annotations__ = {key: hints.get(key, Any) for key in signature.parameters}
    try:
        return TypeAdapter(bind)  # type: ignore[arg-type]
    except Exception as exc:  # pydantic's errors for unsupported annotations vary
        raise InvalidRequestError(
            f"tool {name!r}: cannot validate arguments against its signature: {exc}"
        ) from exc


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of a function, a bound method, a partial or a callable object."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(type(target), "__call__", target)  # noqa: B004 - its annotations
    try:
        return typing.get_type_hints(target)
    except Exception:  # an annotation that does not resolve: validate that argument as Any
        return {}


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


def tool_result(value: object) -> str:
    """A tool's return value as the text of its result: a ``str`` as is, anything else as JSON.

    Pydantic models, dataclasses, dates and the like are converted the way pydantic dumps them.

    Args:
        value: What the tool returned.

    Returns:
        The text sent back to the model.
    """
    if isinstance(value, str):
        return value
    from pydantic_core import to_jsonable_python

    return json.dumps(value, default=to_jsonable_python)


class ToolRunner:
    """Runs the calls of one turn against a loop's tools.

    Args:
        tools: The loop's validated tools; each must carry a Python ``function``.

    Raises:
        InvalidRequestError: A tool has no function, or its signature cannot be validated.
    """

    def __init__(self, tools: Sequence[Tool]) -> None:
        if not tools:
            raise InvalidRequestError("run_tools needs tools=: a list of functions or Tools")
        self._tools: dict[str, tuple[Callable[..., Any], Any]] = {}
        for i, tool in enumerate(tools):
            if tool.function is None:
                raise InvalidRequestError(
                    f"tools[{i}]: tool {tool.name!r} has no Python function to run; the tool "
                    "loop needs a function or a Tool(function=...) for every tool"
                )
            self._tools[tool.name] = (tool.function, _validator(tool.function, tool.name))

    async def run(self, calls: Sequence[ToolCall]) -> list[str]:
        """Run every call of one turn, concurrently.

        Args:
            calls: The turn's tool calls.

        Returns:
            Each call's result text, in the order of ``calls``.
        """
        results = [""] * len(calls)

        async def one(index: int, call: ToolCall) -> None:
            results[index] = await self._call(call)

        if len(calls) == 1:
            await one(0, calls[0])
            return results
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(one, index, call)
        return results

    async def _call(self, call: ToolCall) -> str:
        entry = self._tools.get(call.name)
        if entry is None:
            known = ", ".join(sorted(self._tools))
            return f"Error: there is no tool named {call.name!r} (the tools are: {known})"
        if call.error is not None:
            return f"Error: the arguments for tool {call.name!r} could not be read: {call.error}"
        fn, validator = entry
        from pydantic import ValidationError

        try:
            bound: inspect.BoundArguments = validator.validate_python(call.arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return f"Error: invalid arguments for tool {call.name!r}: {problems}"
        try:
            if _is_async(fn):
                value = await fn(*bound.args, **bound.kwargs)
            else:
                value = await anyio.to_thread.run_sync(
                    functools.partial(fn, *bound.args, **bound.kwargs)
                )
                if inspect.isawaitable(value):
                    value = await value
        except Exception as exc:
            logger.debug("tool %s (call %s) raised", call.name, call.id, exc_info=True)
            return f"Error: tool {call.name!r} raised {type(exc).__name__}: {exc}"
        try:
            return tool_result(value)
        except (TypeError, ValueError) as exc:  # pydantic's serialisation error: a ValueError
            return f"Error: tool {call.name!r} returned a value that is not JSON: {exc}"


def check_max_turns(max_turns: object) -> int:
    """Check ``max_turns=``.

    Args:
        max_turns: What the caller passed.

    Returns:
        The value.

    Raises:
        InvalidRequestError: Not an int of at least 1.
    """
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
        raise InvalidRequestError(f"max_turns must be an int >= 1, got {max_turns!r}")
    return max_turns


async def run_loop(
    request: ChatRequest,
    history: list[Message],
    runner: ToolRunner,
    send: Callable[[ChatRequest], Awaitable[LLMResponse]],
    max_turns: int,
    turns: list[LLMResponse],
) -> ToolLoopResult:
    """Run the loop until the model answers without tool calls.

    The request is validated once; each later turn sends the same request with the grown
    message tuple (the new turns are built typed, nothing is validated again). A forced
    ``tool_choice`` (``required`` or a tool name) applies to the first turn only, so the model
    can answer once it has the results.

    Args:
        request: The first turn's validated request.
        history: The messages given, as dicts (the loop appends to it).
        runner: Runs the tools.
        send: Sends one turn (one ledger record).
        max_turns: The most model turns to make.
        turns: Where every turn's response is appended (the caller sees them on failure too).

    Returns:
        The final answer.

    Raises:
        MaxTurnsExceededError: The last allowed turn still called tools (its calls unanswered).
    """
    started = time.perf_counter()
    typed = request.messages
    for _ in range(max_turns):
        response = await send(request)
        turns.append(response)
        history.append(response.message)
        calls = response.tool_calls
        if not calls:
            return _result(response, history, turns, started)
        if len(turns) == max_turns:
            break
        results = await runner.run(calls)
        parts = (TextPart(response.content),) if response.content else ()
        new = [ChatMessage("assistant", parts, tuple(calls), tuple(response.reasoning_items))]
        for call, text in zip(calls, results, strict=True):
            history.append({"role": "tool", "tool_call_id": call.id, "content": text})
            new.append(
                ChatMessage("tool", (TextPart(text),), tool_call_id=call.id, tool_name=call.name)
            )
        typed = (*typed, *new)
        choice = request.tool_choice
        request = dataclasses.replace(
            request, messages=typed, tool_choice=None if choice and choice.forced else choice
        )
    pending = ", ".join(call.name for call in turns[-1].tool_calls)
    raise MaxTurnsExceededError(
        f"the model still called tools ({pending}) after max_turns={max_turns} turns",
        messages=history,
        turns=turns,
    )


def _result(
    final: LLMResponse, history: list[Message], turns: list[LLMResponse], started: float
) -> ToolLoopResult:
    tokens: dict[str, int] = {}
    for turn in turns:
        for key, value in turn.tokens_used.items():
            tokens[key] = tokens.get(key, 0) + value
    own = {f.name: getattr(final, f.name) for f in dataclasses.fields(LLMResponse)}
    own.update(
        cost=sum(turn.cost for turn in turns),
        tokens_used=tokens,
        latency_s=time.perf_counter() - started,
    )
    return ToolLoopResult(**own, messages=history, turns=turns)
