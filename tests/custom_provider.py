"""A user-defined provider, loaded by `type: "tests.custom_provider:EchoProvider"`."""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmorch import BaseLLMProvider, LLMResponse, ModelInfo, ModelNotFoundError, StreamEvent
from llmorch.request import ChatRequest
from llmorch.types import normalize_tokens


class EchoProvider(BaseLLMProvider):
    """Echoes the last message; model "missing" does not exist."""

    def _check(self, model: str) -> None:
        if model == "missing":
            raise ModelNotFoundError("no such model", provider=self.name, model=model)

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        model = request.model
        self._check(model)
        text = request.messages[-1].text
        return LLMResponse(text, model, self.name, normalize_tokens(len(text), len(text)), "stop")

    async def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self._check(request.model)
        for word in request.messages[-1].text.split():
            yield StreamEvent("text", text=word)
        yield StreamEvent("usage", tokens=normalize_tokens(1, 2))

    async def get_available_models(self) -> list[ModelInfo]:
        return [ModelInfo("echo-1", self.name), ModelInfo("echo-2", self.name)]


class NotAProvider:
    """Not a BaseLLMProvider."""
