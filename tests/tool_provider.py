"""A scripted adapter for the tool loop's logic: `type: "tests.tool_provider:ScriptedProvider"`.

It answers each request with the next scripted :class:`llmorch.testing.Reply` (text and tool
calls, the emulator's own script types) and records every request it receives, so tests can
check what each turn sent without any vendor codec.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from llmorch import BaseLLMProvider, InvalidRequestError, LLMResponse, ModelInfo, StreamEvent
from llmorch.messages import ReasoningItem
from llmorch.request import ChatRequest
from llmorch.testing import Reply
from llmorch.tools import parse_arguments
from llmorch.types import normalize_tokens


def config(**extra: Any) -> dict[str, Any]:
    """A config dict with one scripted provider, ``fake``, priced so that costs are visible."""
    return {
        "active_provider": "fake",
        "active_model": "fake-1",
        "providers": {
            "fake": {"type": "tests.tool_provider:ScriptedProvider", "fallback_models": []}
        },
        "pricing": {"fake": {"fake-1": {"input": 1.0, "output": 2.0}}},
        "model_discovery": {"refresh_on_start": False, "cache_path": None},
        "cost_tracking": {"enabled": True, "log_path": "ledger.jsonl"},
        **extra,
    }


class ScriptedProvider(BaseLLMProvider):
    """Answers with ``replies`` in order (then ``"(no more replies)"``); keeps ``requests``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replies: list[Reply] = []
        self.requests: list[ChatRequest] = []
        self.calls = 0
        self.refuse: set[str] = set()  # parameters answered with a 400 naming them

    def _next(self, request: ChatRequest) -> Reply:
        self.requests.append(request)
        self.calls += 1
        for name in sorted(self.refuse):
            if getattr(request, name) is not None:
                raise InvalidRequestError(
                    f"Unsupported parameter: '{name}'", provider=self.name, status_code=400,
                    body={"error": {"param": name}},
                )  # fmt: skip
        return self.replies.pop(0) if self.replies else Reply("(no more replies)")

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        body = error.body
        if isinstance(body, dict):
            param = body.get("error", {}).get("param")
            return str(param) if param else None
        return None

    def _ids(self, reply: Reply) -> list[str]:
        return [use.id or f"fake_{self.calls}_{i}" for i, use in enumerate(reply.tool_calls)]

    @staticmethod
    def _tokens(request: ChatRequest, reply: Reply) -> dict[str, int]:
        prompt = sum(len(m.text.split()) + len(m.tool_calls) for m in request.messages)
        completion = len(reply.text.split()) + sum(
            len(json.dumps(use.arguments_json)) for use in reply.tool_calls
        )
        return normalize_tokens(prompt, completion)

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        reply = self._next(request)
        calls = [
            parse_arguments(call_id, use.name, use.arguments_json)
            for call_id, use in zip(self._ids(reply), reply.tool_calls, strict=True)
        ]
        finish = "tool_calls" if calls else reply.finish_reason
        thoughts = [ReasoningItem(reply.reasoning, f"sig-{self.calls}")] if reply.reasoning else []
        return LLMResponse(
            reply.text,
            request.model,
            self.name,
            self._tokens(request, reply),
            finish,
            tool_calls=calls,
            reasoning=reply.reasoning,
            reasoning_items=thoughts,
        )

    async def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        reply = self._next(request)
        yield StreamEvent("start", request_id=f"req_{self.calls}")
        if reply.reasoning:
            yield StreamEvent("reasoning", index=-1, text=reply.reasoning)
            yield StreamEvent("reasoning", index=-1, signature=f"sig-{self.calls}")
        for word in reply.text.split(" ") if reply.text else ():
            yield StreamEvent("text", text=word + " ")
        for i, (call_id, use) in enumerate(zip(self._ids(reply), reply.tool_calls, strict=True)):
            yield StreamEvent("tool_start", index=i, tool_id=call_id, name=use.name)
            text = use.arguments_json
            half = len(text) // 2
            yield StreamEvent("tool_delta", index=i, text=text[:half])
            yield StreamEvent("tool_delta", index=i, text=text[half:])
            yield StreamEvent("tool_end", index=i)
        yield StreamEvent("usage", tokens=self._tokens(request, reply))
        finish = "tool_calls" if reply.tool_calls else reply.finish_reason
        yield StreamEvent("finish", finish_reason=finish)

    async def get_available_models(self) -> list[ModelInfo]:
        return [ModelInfo("fake-1", self.name)]
