"""A user-defined provider, loaded by `type: "tests.custom_provider:EchoProvider"`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from llmorch import BaseLLMProvider, LLMResponse, ModelInfo, ModelNotFoundError, StreamEvent
from llmorch.types import Message, normalize_tokens


class EchoProvider(BaseLLMProvider):
    """Echoes the last message; model "missing" does not exist."""

    def _check(self, model: str) -> None:
        if model == "missing":
            raise ModelNotFoundError("no such model", provider=self.name, model=model)

    async def send_request(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> LLMResponse:
        self._check(model)
        text = messages[-1]["content"]
        return LLMResponse(text, model, self.name, normalize_tokens(len(text), len(text)), "stop")

    async def send_streaming_request(
        self,
        messages: list[Message],
        model: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamEvent]:
        self._check(model)
        for word in messages[-1]["content"].split():
            yield StreamEvent("text", text=word)
        yield StreamEvent("usage", tokens=normalize_tokens(1, 2))

    async def get_available_models(self) -> list[ModelInfo]:
        return [ModelInfo("echo-1", self.name), ModelInfo("echo-2", self.name)]


class NotAProvider:
    """Not a BaseLLMProvider."""
