"""Conversation context: a history pinned to one provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmorch.exceptions import InvalidRequestError
from llmorch.messages import validate_messages
from llmorch.streaming import ResponseStream
from llmorch.tool_loop import ToolRunner, check_max_turns
from llmorch.tools import Tool, validate_tools
from llmorch.types import LLMResponse, Message

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmorch.orchestrator import AsyncLLMOrchestrator

__all__ = ["Conversation"]


class Conversation:
    """A chat history pinned to one provider; fallback within it still applies turn by turn.

    A failed or interrupted turn leaves the history unchanged, but what it cost is counted.
    Create one with :meth:`AsyncLLMOrchestrator.conversation`.

    With ``tools=``, :meth:`send` runs the tool loop of
    :meth:`~llmorch.AsyncLLMOrchestrator.run_tools` and appends every turn of it: the user's
    message, each assistant turn that called tools, the tool results and the final answer.
    :meth:`stream` is refused then (a stream is one model turn; the loop is several).

    Args:
        orchestrator: The orchestrator that sends the turns.
        system: An optional system message kept at the start of the history.
        messages: A stored history to continue (for example an earlier ``conv.messages``):
            ``user`` and ``assistant`` turns, optionally opened by one ``system`` message.
        provider: The provider to pin (the active one by default).
        model: The model tried first each turn (``None``: the provider's chain).
        max_messages: Keep the system message plus only the last N messages (tool turns
            count); whole exchanges are dropped, so the kept history opens with a user turn
            and never separates a tool call from its result.
        tools: Python functions (or :class:`~llmorch.Tool` values with ``function=``) the
            model may call; :meth:`send` then runs the tool loop.
        max_turns: With ``tools``, the most model turns one :meth:`send` makes.

    Raises:
        InvalidRequestError: ``messages`` is malformed (the message names the offending
            index), holds a system message anywhere but first, or opens with a system message
            other than ``system``; ``max_messages`` is below 1; or ``max_turns`` is below 1.
            Nothing is sent.
        ConfigurationError: ``provider`` is not configured.

    Attributes:
        provider: The pinned provider name.
        model: The model tried first each turn (``None``: the provider's chain).
        max_messages: How many non-system messages are kept, or ``None`` for all.
        tools: The tools :meth:`send` runs a loop with, as :class:`~llmorch.Tool` values
            (``None``: plain turns).
        max_turns: The tool loop's turn limit per :meth:`send`.
        cost: USD spent by this conversation, interrupted streamed turns and failed tool
            loops included.
    """

    def __init__(
        self,
        orchestrator: AsyncLLMOrchestrator,
        *,
        system: str | None = None,
        messages: Sequence[Message] | None = None,
        provider: str | None = None,
        model: str | None = None,
        max_messages: int | None = None,
        tools: Sequence[Any] | None = None,
        max_turns: int = 8,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise InvalidRequestError("max_messages must be at least 1")
        self.max_turns = check_max_turns(max_turns)
        self.tools: list[Tool] | None = None
        if tools is not None:
            self.tools = list(validate_tools(tools))
            ToolRunner(self.tools)  # refuse unusable tools now, not on the first send
        self._system, self._turns = _history(system, messages)
        self._orch = orchestrator
        self.provider = provider or orchestrator.config.active_provider
        orchestrator.config.provider(self.provider)
        self.model = model
        self.max_messages = max_messages
        self.cost = 0.0
        self._trim()

    @property
    def messages(self) -> list[Message]:
        """The history: the system message (if any) and the kept turns (a copy)."""
        head = [dict(self._system)] if self._system else []
        return head + [dict(m) for m in self._turns]

    def _with(self, text: str) -> list[Message]:
        if not isinstance(text, str):
            raise InvalidRequestError(f"the user message must be a str, got {type(text).__name__}")
        return [*self.messages, {"role": "user", "content": text}]

    def _route(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        provider = kwargs.pop("provider", None)
        if provider is not None:
            raise InvalidRequestError(
                f"this conversation is pinned to provider {self.provider!r}: "
                f"send(provider={provider!r}) is refused; start another conversation instead"
            )
        kwargs.setdefault("model", self.model)
        return {"provider": self.provider, **kwargs}

    def _trim(self) -> None:
        if self.max_messages is not None:
            kept = self._turns[-self.max_messages :]
            # Whole exchanges only: open with a user turn, never with an assistant answer or
            # with tool results whose call was cut off.
            while kept and kept[0]["role"] in ("assistant", "tool"):
                kept.pop(0)
            self._turns = kept

    def _commit(self, text: str, response: LLMResponse) -> None:
        self._turns += [
            {"role": "user", "content": text},
            response.message,
        ]
        self._trim()

    def _end_stream(self, text: str, response: LLMResponse, complete: bool) -> None:
        self.cost += response.cost  # an interrupted turn was billed and recorded too
        if complete:
            self._commit(text, response)

    async def send(self, text: str, **kwargs: Any) -> LLMResponse:
        """Send a user turn and append it and the answer to the history.

        With ``tools``, this runs the tool loop and appends every turn of it (the result is a
        :class:`~llmorch.ToolLoopResult`); a loop that fails (``MaxTurnsExceededError``, a
        turn that fails on every model) appends nothing, but the turns it made are counted in
        :attr:`cost`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`AsyncLLMOrchestrator.send_request`; ``model=`` picks the
                model tried first for this turn only; ``provider=`` is refused; with
                ``tools``, ``max_turns=`` overrides the limit for this turn and ``tools=`` is
                refused.

        Returns:
            The response.

        Raises:
            InvalidRequestError: ``provider=`` was given, the message is not a str, or
                ``tools=`` was given to a conversation that has tools.
        """
        messages = self._with(text)
        if self.tools is not None:
            return await self._send_with_tools(self.tools, messages, kwargs)
        response = await self._orch.send_request(messages, **self._route(kwargs))
        self.cost += response.cost
        self._commit(text, response)
        return response

    async def _send_with_tools(
        self, tools: list[Tool], messages: list[Message], kwargs: dict[str, Any]
    ) -> LLMResponse:
        if "tools" in kwargs:
            raise InvalidRequestError(
                "this conversation's tools are set when the conversation was created: "
                "send(tools=...) is refused"
            )
        max_turns = kwargs.pop("max_turns", self.max_turns)
        turns: list[LLMResponse] = []
        try:
            result = await self._orch._run_tools(
                messages, turns, tools=tools, max_turns=max_turns, **self._route(kwargs)
            )
        finally:
            self.cost += sum(turn.cost for turn in turns)
        self._turns += result.messages[len(messages) - 1 :]
        self._trim()
        return result

    def stream(self, text: str, **kwargs: Any) -> ResponseStream:
        """Stream a user turn; both turns are appended when the stream completes.

        A stream closed early, cancelled or broken appends nothing, but its recorded cost is
        added to :attr:`cost`.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`AsyncLLMOrchestrator.send_streaming_request`; ``model=``
                and ``provider=`` as for :meth:`send`.

        Returns:
            The stream.

        Raises:
            InvalidRequestError: ``provider=`` was given, the message is not a str, or the
                conversation has tools (their loop runs in :meth:`send`).
        """
        if self.tools is not None:
            raise InvalidRequestError(
                "this conversation has tools: its tool loop runs in send(), not in a stream "
                "(a stream is one model turn); use send()"
            )
        messages = self._with(text)
        stream = self._orch.send_streaming_request(messages, **self._route(kwargs))
        stream.add_end_callback(
            lambda response, complete: self._end_stream(text, response, complete)
        )
        return stream


def _history(
    system: str | None, messages: Sequence[Message] | None
) -> tuple[Message | None, list[Message]]:
    """Split a stored history into its system message and its turns, checking both."""
    if system is not None and not isinstance(system, str):
        raise InvalidRequestError(f"system must be a str, got {type(system).__name__}")
    empty = messages is None or isinstance(messages, (list, tuple)) and not messages
    if not empty:
        validate_messages(messages)
    turns = [] if empty else [dict(m) for m in messages]  # type: ignore[union-attr]
    head = turns.pop(0) if turns and turns[0]["role"] == "system" else None
    for i, message in enumerate(turns, start=1 if head else 0):
        if message["role"] == "system":
            raise InvalidRequestError(
                f"messages[{i}] is a system message: a conversation's history may hold one, "
                "and only as messages[0]"
            )
    if system is not None:
        if head is not None and head["content"] != system:
            raise InvalidRequestError(
                "system= and messages[0] are two different system messages: give it one way"
            )
        head = {"role": "system", "content": system}
    return head, turns
