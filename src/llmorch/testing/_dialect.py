"""What every emulated vendor shares: auth checks, the reply plan, request ids."""

from __future__ import annotations

import abc
import json
import secrets
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import anyio

from llmorch.testing._script import (
    ErrorKind,
    Fault,
    Reply,
    Scripts,
    ToolUse,
    count_tokens,
    request_words,
    split_chunks,
    truncate,
)
from llmorch.testing._server import (
    Drop,
    Hang,
    JSONResponse,
    RawResponse,
    Request,
    Response,
    StreamResponse,
)

__all__ = ["Dialect", "Plan"]


@dataclass
class Plan:
    """How one answer goes: the chunks to send and how the exchange ends.

    Attributes:
        model: The model id requested.
        chunks: Text chunks (all of them for a complete answer).
        finish_reason: The normalised finish reason of a complete answer.
        ending: ``complete``, ``cut`` (connection closed), ``error`` (an in-stream error event)
            or ``malformed`` (an event whose data is not JSON).
        error: The error kind for ``error``.
        message: The error message.
        prompt_tokens: Reported input tokens.
        completion_tokens: Reported output tokens.
        delay: Seconds before each chunk.
        stall: For a ``cut`` ending, keep the connection open and silent instead of closing it.
        clean: For a ``cut`` ending, terminate the body properly instead of closing it.
        tool_calls: The tool calls to answer with (after the text chunks). For a ``cut``
            ending the last one is cut after the first half of its arguments.
        reasoning: Thinking text to send before the answer (only when the request turned
            reasoning on; each dialect signs it its own way).
    """

    model: str
    chunks: list[str]
    finish_reason: str
    ending: Literal["complete", "cut", "error", "malformed"]
    error: ErrorKind | None
    message: str
    prompt_tokens: int
    completion_tokens: int
    delay: float = 0.0
    stall: bool = False
    clean: bool = False
    tool_calls: tuple[ToolUse, ...] = ()
    reasoning: str | None = None

    @property
    def text(self) -> str:
        """The text of the chunks that are sent."""
        return "".join(self.chunks)


class Dialect(abc.ABC):
    """One emulated vendor API mounted under its own URL prefix.

    Args:
        scripts: The shared script queues.
        keys: Accepted API keys, or ``None`` to accept any non-empty key.
        page_size: Page size of paginated model lists.
    """

    name: ClassVar[str]
    prefix: ClassVar[str]
    default_models: ClassVar[tuple[str, ...]]
    chat_models: ClassVar[tuple[str, ...]]
    extra_paths: ClassVar[tuple[str, ...]] = ()
    """Paths outside :attr:`prefix` this dialect also serves (passed to :meth:`handle` whole)."""

    def __init__(self, scripts: Scripts, keys: Collection[str] | None, page_size: int) -> None:
        self.scripts = scripts
        self.keys = frozenset(keys) if keys is not None else None
        self.page_size = page_size

    @staticmethod
    def request_id(prefix: str = "req_") -> str:
        """A fresh vendor-style request id.

        Args:
            prefix: The id's prefix.

        Returns:
            The id.
        """
        return prefix + secrets.token_hex(12)

    def key_status(self, key: str | None) -> Literal["ok", "missing", "invalid"]:
        """Check an API key the way the vendor does.

        Args:
            key: The key the request carried.

        Returns:
            ``ok``, ``missing`` or ``invalid``.
        """
        if not key:
            return "missing"
        if self.keys is not None and key not in self.keys:
            return "invalid"
        return "ok"

    def models(self) -> list[str]:
        """Every model this dialect lists: its defaults plus any scripted one."""
        scripted = self.scripts.models(self.name) - set(self.default_models)
        return list(self.default_models) + sorted(scripted)

    def credentials(self, base_url: str) -> str:
        """What ``llmorch emulator`` prints as the credentials this dialect accepts.

        Args:
            base_url: The emulator's root URL.

        Returns:
            One line of text.
        """
        return ", ".join(sorted(self.keys)) if self.keys else "any non-empty API key"

    def request_model(self, path: str, body: Any) -> str | None:
        """The model a request names (in its body by default), for :class:`RecordedRequest`.

        Args:
            path: The path after the prefix.
            body: The decoded JSON body.

        Returns:
            The model id, if any.
        """
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the dialect holds (temporary files); called when the emulator stops."""

    def config(self, base_url: str) -> dict[str, Any]:
        """A provider config dict pointing llmorch at this dialect.

        Args:
            base_url: The emulator's root URL.

        Returns:
            ``{"type", "base_url", "api_key", "fallback_models"}``.
        """
        key = sorted(self.keys)[0] if self.keys else f"emulator-{self.name}-key"
        return {
            "type": self.name,
            "base_url": base_url + self.prefix,
            "api_key": key,
            "fallback_models": list(self.chat_models[1:]),
        }

    def plan(
        self,
        model: str,
        request_text: tuple[Any, ...],
        max_tokens: Any,
        last_user: str,
        default: Reply | None = None,
    ) -> Plan | Fault:
        """Decide the answer to one chat request.

        Args:
            model: The model requested.
            request_text: ``(messages, *extra strings)`` to count prompt tokens from.
            max_tokens: The request's output limit.
            last_user: The last user message (echoed by the default reply).
            default: The answer when nothing is scripted (e.g. a forced tool call); the echo
                reply otherwise.

        Returns:
            A plan, or a fault that happens before any response (status, reset, hang).
        """
        item = self.scripts.pop(self.name, model) or default
        if item is None:
            item = Reply(f"This is {model} on the llmorch emulator. You said: {last_user[:80]}")
        prompt = request_words(*request_text)
        if isinstance(item, Fault):
            if item.kind in ("status", "reset", "hang", "wrong_type"):
                return item
            chunks = split_chunks(item.text)[: item.after]
            ending: Literal["cut", "error", "malformed"] = (
                "cut"
                if item.kind in ("cut", "stall")
                else "error"
                if item.kind == "stream_error"
                else "malformed"
            )
            return Plan(
                model,
                chunks,
                "stop",
                ending,
                item.error,
                item.message,
                prompt,
                count_tokens("".join(chunks)),
                stall=item.kind == "stall",
                clean=item.clean,
                tool_calls=item.tool_calls,
            )
        text, cut = truncate(item.text, max_tokens)
        finish = "tool_calls" if item.tool_calls and not cut else item.finish_reason
        spoken = " ".join([text, *(c.arguments_json for c in item.tool_calls)])
        return Plan(
            model,
            split_chunks(text),
            "length" if cut else finish,
            "complete",
            None,
            "",
            item.prompt_tokens if item.prompt_tokens is not None else prompt,
            item.completion_tokens
            if item.completion_tokens is not None
            else count_tokens(spoken) + count_tokens(item.reasoning or ""),
            item.chunk_delay,
            tool_calls=item.tool_calls,
            reasoning=item.reasoning,
        )

    def fault_response(self, fault: Fault, model: str | None) -> Response:
        """The response for a fault that happens before the answer.

        Args:
            fault: A ``status``, ``reset`` or ``hang`` fault.
            model: The model requested.

        Returns:
            The response.
        """
        if fault.kind == "reset":
            return Drop()
        if fault.kind == "hang":
            return Hang()
        if fault.kind == "wrong_type":
            return RawResponse(200, "text/html; charset=utf-8", fault.message.encode())
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        return self.error(fault.status, fault.error or "server_error", fault.message, headers)

    @abc.abstractmethod
    def error(
        self,
        status: int,
        kind: ErrorKind,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        """The vendor's error response.

        Args:
            status: The HTTP status.
            kind: The error kind.
            message: The message.
            headers: Extra headers.

        Returns:
            The response.
        """

    @abc.abstractmethod
    async def handle(self, request: Request, path: str) -> Response:
        """Answer one request under this dialect's prefix.

        Args:
            request: The request.
            path: The path after the prefix.

        Returns:
            The response.
        """

    @staticmethod
    def stream(
        plan: Plan,
        encode: Callable[[Plan], list[bytes]],
        content_type: str,
        headers: dict[str, str],
    ) -> StreamResponse:
        """A streamed answer: ``encode(plan)`` gives the frames, sent with the plan's delay.

        Args:
            plan: The answer.
            encode: Turns the plan into wire frames.
            content_type: The media type.
            headers: Extra headers.

        Returns:
            The streaming response (cut short when the plan says so).
        """

        async def frames() -> AsyncIterator[bytes]:
            for frame in encode(plan):
                if plan.delay:
                    await anyio.sleep(plan.delay)
                yield frame
            if plan.stall:
                await anyio.sleep_forever()

        cut = plan.ending == "cut" and not plan.stall and not plan.clean
        return StreamResponse(frames(), content_type, headers, cut=cut)

    @staticmethod
    def whole(plan: Plan, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A non-streamed answer, cut short as the plan says.

        Args:
            plan: The answer.
            payload: The JSON body.
            headers: Extra headers.

        Returns:
            The response: whole; or, for a ``cut`` ending, half of it with the connection closed
            (or, for a clean cut, half of it as a well-framed body).
        """
        if plan.ending == "cut" and plan.clean:
            body = json.dumps(payload).encode()
            return RawResponse(200, "application/json", body[: len(body) // 2])
        return JSONResponse(200, payload, headers or {}, cut=plan.ending == "cut")
