"""Conversation context: a history pinned to one provider."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmorch.exceptions import InvalidRequestError
from llmorch.streaming import ResponseStream
from llmorch.types import LLMResponse, Message

if TYPE_CHECKING:
    from llmorch.orchestrator import AsyncLLMOrchestrator

__all__ = ["Conversation"]


class Conversation:
    """A chat history pinned to one provider; fallback within it still applies turn by turn.

    A failed turn leaves the history unchanged. Create one with
    :meth:`AsyncLLMOrchestrator.conversation`.

    Attributes:
        provider: The pinned provider name.
        model: The model tried first each turn (``None``: the provider's chain).
        max_messages: How many non-system messages are kept, or ``None`` for all.
        cost: USD spent by this conversation.
    """

    def __init__(
        self,
        orchestrator: AsyncLLMOrchestrator,
        *,
        system: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        max_messages: int | None = None,
    ) -> None:
        if max_messages is not None and max_messages < 1:
            raise InvalidRequestError("max_messages must be at least 1")
        self._orch = orchestrator
        self.provider = provider or orchestrator.config.active_provider
        orchestrator.config.provider(self.provider)
        self.model = model
        self.max_messages = max_messages
        self.cost = 0.0
        self._system: Message | None = (
            {"role": "system", "content": system} if system is not None else None
        )
        self._turns: list[Message] = []

    @property
    def messages(self) -> list[Message]:
        """The history: the system message (if any) and the kept turns (a copy)."""
        head = [dict(self._system)] if self._system else []
        return head + [dict(m) for m in self._turns]

    def _with(self, text: str) -> list[Message]:
        if not isinstance(text, str):
            raise InvalidRequestError(f"the user message must be a str, got {type(text).__name__}")
        return [*self.messages, {"role": "user", "content": text}]

    def _commit(self, text: str, response: LLMResponse) -> None:
        self._turns += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": response.content},
        ]
        if self.max_messages is not None:
            kept = self._turns[-self.max_messages :]
            while kept and kept[0]["role"] == "assistant":  # a history must open with the user
                kept.pop(0)
            self._turns = kept
        self.cost += response.cost

    async def send(self, text: str, **kwargs: Any) -> LLMResponse:
        """Send a user turn and append it and the answer to the history.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`AsyncLLMOrchestrator.send_request` (not ``provider``).

        Returns:
            The response.
        """
        response = await self._orch.send_request(
            self._with(text), provider=self.provider, model=self.model, **kwargs
        )
        self._commit(text, response)
        return response

    def stream(self, text: str, **kwargs: Any) -> ResponseStream:
        """Stream a user turn; both turns are appended when the stream completes.

        Args:
            text: The user's message.
            **kwargs: As for :meth:`AsyncLLMOrchestrator.send_streaming_request`.

        Returns:
            The stream.
        """
        stream = self._orch.send_streaming_request(
            self._with(text), provider=self.provider, model=self.model, **kwargs
        )
        stream.add_done_callback(lambda response: self._commit(text, response))
        return stream
