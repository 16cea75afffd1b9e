"""Conversation context: a history pinned to one provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmorch.exceptions import InvalidRequestError
from llmorch.messages import validate_messages
from llmorch.streaming import ResponseStream
from llmorch.types import LLMResponse, Message

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmorch.orchestrator import AsyncLLMOrchestrator

__all__ = ["Conversation"]


class Conversation:
    """A chat history pinned to one provider; fallback within it still applies turn by turn.

    A failed or interrupted turn leaves the history unchanged, but what it cost is counted.
    Create one with :meth:`AsyncLLMOrchestrator.conversation`.

    Args:
        orchestrator: The orchestrator that sends the turns.
        system: An optional system message kept at the start of the history.
        messages: A stored history to continue (for example an earlier ``conv.messages``):
            ``user`` and ``assistant`` turns, optionally opened by one ``system`` message.
        provider: The provider to pin (the active one by default).
        model: The model tried first each turn (``None``: the provider's chain).
        max_messages: Keep the system message plus only the last N messages.

    Raises:
        InvalidRequestError: ``messages`` is malformed (the message names the offending
            index), holds a system message anywhere but first, or opens with a system message
            other than ``system``; or ``max_messages`` is below 1. Nothing is sent.
        ConfigurationError: ``provider`` is not configured.

    Attributes:
        provider: The pinned provider name.
        model: The model tried first each turn (``None``: the provider's chain).
        max_messages: How many non-system messages are kept, or ``None`` for all.
        cost: USD spent by this conversation, interrupted streamed turns included.
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
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise InvalidRequestError("max_messages must be at least 1")
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
            while kept and kept[0]["role"] == "assistant":  # a history must open with the user
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

        Args:
            text: The user's message.
            **kwargs: As for :meth:`AsyncLLMOrchestrator.send_request`; ``model=`` picks the
                model tried first for this turn only; ``provider=`` is refused.

        Returns:
            The response.

        Raises:
            InvalidRequestError: ``provider=`` was given, or the message is not a str.
        """
        messages = self._with(text)
        response = await self._orch.send_request(messages, **self._route(kwargs))
        self.cost += response.cost
        self._commit(text, response)
        return response

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
            InvalidRequestError: ``provider=`` was given, or the message is not a str.
        """
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
