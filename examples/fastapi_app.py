"""A FastAPI app that streams an LLM answer to the browser as Server-Sent Events.

Run ``pip install fastapi uvicorn`` and ``python examples/fastapi_app.py``, then
``curl -N 'localhost:8000/chat?q=Hello'``.

One ``AsyncLLMOrchestrator`` lives as long as the app (one connection pool, models discovered
once). ``GET /chat?q=...`` streams ``data:`` events with the text as it arrives, then a ``done``
event with the usage and cost (or an ``error`` event). ``POST /ask`` answers in one JSON reply.
Without ``OPENAI_API_KEY`` the app starts the llmorch emulator and uses it instead of
./config.yaml (set ``LLMORCH_CONFIG`` to use another file).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from _emulator import emulator_config
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, OrchestratorError
from llmorch.testing import ProviderEmulator


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the orchestrator (and, offline, the emulator) for the app's lifetime.

    Args:
        app: The application.

    Yields:
        Nothing; the orchestrator is ``app.state.orch``.
    """
    async with AsyncExitStack() as stack:
        config: str | OrchestratorConfig = os.environ.get("LLMORCH_CONFIG", "config.yaml")
        if not os.environ.get("OPENAI_API_KEY"):
            emu = await stack.enter_async_context(ProviderEmulator())
            config = OrchestratorConfig.from_dict(emulator_config(emu, "."))
        app.state.orch = await stack.enter_async_context(AsyncLLMOrchestrator(config))
        yield


app = FastAPI(title="llmorch SSE example", lifespan=lifespan)


def sse(data: str, event: str | None = None) -> str:
    """Encode one Server-Sent Event (a multi-line payload becomes several ``data:`` lines).

    Args:
        data: The payload.
        event: The event name; ``None`` for the default ``message`` event.

    Returns:
        The event's text, ending with the blank line that terminates it.
    """
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


@app.get("/chat")
async def chat(q: str, request: Request) -> StreamingResponse:
    """Stream the answer to ``q`` as Server-Sent Events.

    Args:
        q: The user's message.
        request: The incoming request.

    Returns:
        A ``text/event-stream`` response.
    """
    orch: AsyncLLMOrchestrator = request.app.state.orch

    async def events() -> AsyncIterator[str]:
        try:
            async with orch.send_streaming_request([{"role": "user", "content": q}]) as stream:
                async for chunk in stream:
                    yield sse(chunk)
        except OrchestratorError as exc:
            yield sse(json.dumps({"type": type(exc).__name__, "message": str(exc)}), "error")
            return
        response = stream.response
        done = {
            "provider": response.provider,
            "model": response.model,
            "tokens": response.tokens_used,
            "cost": response.cost,
        }
        yield sse(json.dumps(done), "done")

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


class Question(BaseModel):
    """The body of ``POST /ask``."""

    q: str
    provider: str | None = None


@app.post("/ask")
async def ask(question: Question, request: Request) -> dict[str, Any]:
    """Answer in one JSON reply.

    Args:
        question: The user's message and an optional provider.
        request: The incoming request.

    Returns:
        The answer, the model that gave it and its cost.

    Raises:
        HTTPException: 400 for a provider that is not configured (the client's mistake);
            502 when the provider failed (after llmorch's retries and fallback).
    """
    orch: AsyncLLMOrchestrator = request.app.state.orch
    if question.provider is not None and question.provider not in orch.config.providers:
        known = ", ".join(orch.config.providers)
        raise HTTPException(
            status_code=400, detail=f"unknown provider {question.provider!r}; use one of {known}"
        )
    try:
        response = await orch.send_request(
            [{"role": "user", "content": question.q}], provider=question.provider
        )
    except OrchestratorError as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from exc
    return {
        "content": response.content,
        "provider": response.provider,
        "model": response.model,
        "cost": response.cost,
    }


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
