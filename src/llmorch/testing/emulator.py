"""The provider emulator: a real loopback HTTP server that speaks the vendors' wire protocols."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.from_thread import start_blocking_portal

from llmorch.testing._anthropic import AnthropicDialect
from llmorch.testing._bedrock import BedrockDialect
from llmorch.testing._dialect import Dialect
from llmorch.testing._gemini import GeminiDialect
from llmorch.testing._openai import OpenAIDialect
from llmorch.testing._script import Fault, Reply, Scripts
from llmorch.testing._server import JSONResponse, Request, Response, serve_connection
from llmorch.testing._vertex import VertexDialect

__all__ = ["ProviderEmulator", "RecordedRequest"]

DIALECTS: tuple[type[Dialect], ...] = (
    OpenAIDialect,
    AnthropicDialect,
    GeminiDialect,
    VertexDialect,
    BedrockDialect,
)

# Dialects whose clients need an extra (the Vertex dialect also runs google-auth and
# cryptography itself): off without it, with a note in describe() and from config_for().
_EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "vertex": (("google.auth", "google-auth"), ("cryptography", "cryptography")),
    "bedrock": (("botocore", "botocore"),),
}


def _missing(dialect: str) -> str | None:
    """Why a dialect is off (the install command), or ``None`` when it is on."""
    for module, package in _EXTRAS.get(dialect, ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"off: needs {package}, pip install 'llmorch[{dialect}]'"
    return None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator received.

    Attributes:
        dialect: The dialect that served it.
        method: The HTTP method.
        path: The path (with the dialect prefix).
        headers: Lower-cased headers, as sent.
        body: The decoded JSON body, or ``None``.
        model: The model the request named, if any.
    """

    dialect: str
    method: str
    path: str
    headers: dict[str, str] = field(repr=False)
    body: Any = field(repr=False)
    model: str | None = None


class ProviderEmulator:
    """A loopback server that speaks the vendors' protocols, for tests and demos without keys.

    Use it as an async context manager (or a sync one, which runs it on a background thread)::

        async with ProviderEmulator() as emu:
            config = {"providers": {"openai": emu.config_for("openai")}, ...}
            emu.script("openai", "gpt-5.4-mini", Fault.rate_limit(0), "Hello!")

    Each dialect lives under its own prefix: ``{base_url}/openai/v1``, ``{base_url}/anthropic``,
    ``{base_url}/gemini``, ``{base_url}/vertex`` (plus ``{base_url}/oauth2/token``) and
    ``{base_url}/bedrock``. Usage is deterministic: prompt and completion tokens are
    whitespace-separated words.

    Args:
        host: The loopback address to bind.
        port: The port (0 picks a free one).
        api_keys: Per dialect, the only keys accepted; by default any non-empty key passes.
        page_size: Page size of paginated model lists.

    The Vertex and Bedrock dialects need the ``vertex`` / ``bedrock`` extras (what their
    clients use); without them they are off, :attr:`off` says why and :meth:`describe` shows it.

    Attributes:
        requests: Every request received, in order.
        off: The dialects that are off, each with a note naming the ``pip install`` it needs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, Collection[str]] | None = None,
        page_size: int = 2,
    ) -> None:
        self.host = host
        self._port = port
        self._scripts = Scripts()
        keys = api_keys or {}
        self.off: dict[str, str] = {}
        for cls in DIALECTS:
            note = _missing(cls.name)
            if note is not None:
                self.off[cls.name] = note
        self._dialects = {
            cls.name: cls(self._scripts, keys.get(cls.name), page_size)
            for cls in DIALECTS
            if cls.name not in self.off
        }
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._sync: AbstractContextManager[Any] | None = None
        self._portal_cm: AbstractContextManager[Any] | None = None

    @property
    def dialects(self) -> tuple[str, ...]:
        """The dialect names this emulator speaks."""
        return tuple(self._dialects)

    @property
    def base_url(self) -> str:
        """The server's root URL (``http://127.0.0.1:PORT``).

        Raises:
            RuntimeError: The emulator is not running.
        """
        if self._task_group is None and self._sync is None:
            raise RuntimeError("the emulator is not running: use `async with ProviderEmulator()`")
        return f"http://{self.host}:{self._port}"

    def url(self, dialect: str) -> str:
        """The base URL of one dialect (what a provider's ``base_url`` should be).

        Args:
            dialect: ``openai``, ``anthropic``, ``gemini``, ``vertex`` or ``bedrock``.

        Returns:
            The URL.
        """
        return self.base_url + self._dialect(dialect).prefix

    def config_for(self, dialect: str) -> dict[str, Any]:
        """A plain dict ready to put under ``providers:`` (secrets as plain strings).

        Args:
            dialect: ``openai``, ``anthropic``, ``gemini``, ``vertex`` or ``bedrock``.

        Returns:
            ``{"type", "base_url", "api_key", "fallback_models"}``.
        """
        return self._dialect(dialect).config(self.base_url)

    def models(self, dialect: str) -> list[str]:
        """The models a dialect lists (its defaults plus every scripted one).

        Args:
            dialect: The dialect name.

        Returns:
            Model ids.
        """
        return self._dialect(dialect).models()

    def chat_models(self, dialect: str) -> list[str]:
        """The dialect's chat models, in chain order (``config_for`` falls back along them).

        Args:
            dialect: The dialect name.

        Returns:
            Model ids; the first is the natural ``active_model``.
        """
        return list(self._dialect(dialect).chat_models)

    def script(self, dialect: str, model: str, *replies: Reply | Fault | str) -> None:
        """Queue replies and faults for one model, served in order before the default reply.

        Scripting a model also makes it exist on that dialect.

        Args:
            dialect: ``openai``, ``anthropic``, ``gemini``, ``vertex`` or ``bedrock``.
            model: The model id.
            *replies: :class:`Reply` (or a plain ``str``) and :class:`Fault` items.
        """
        self._dialect(dialect)
        self._scripts.add(dialect, model, replies)

    def clear(self) -> None:
        """Forget every scripted item and recorded request."""
        self._scripts.clear()
        with self._lock:
            self.requests.clear()

    def describe(self) -> str:
        """What ``llmorch emulator`` prints: each dialect's URL and the credentials it takes.

        Returns:
            Several lines of text.
        """
        lines = [f"llmorch provider emulator on {self.base_url}"]
        for name, dialect in self._dialects.items():
            # The config keys that point a provider here, as named in config_for (Bedrock
            # takes endpoint_url and control_endpoint_url, not base_url).
            config = dialect.config(self.base_url)
            urls = "  ".join(f"{key}={value}" for key, value in config.items() if "url" in key)
            keys = dialect.credentials(self.base_url)
            lines.append(f"  {name:<10} {urls}  credentials: {keys}")
        lines.extend(f"  {name:<10} {note}" for name, note in self.off.items())
        return "\n".join(lines)

    def _dialect(self, name: str) -> Dialect:
        try:
            return self._dialects[name]
        except KeyError:
            if name in self.off:
                raise ValueError(f"the {name} dialect is {self.off[name]}") from None
            raise ValueError(
                f"unknown dialect {name!r}: the emulator speaks {', '.join(self._dialects)}"
            ) from None

    async def _handle(self, request: Request) -> Response:
        for name, dialect in self._dialects.items():
            prefix = dialect.prefix
            path = request.path
            if path == prefix or path.startswith(prefix + "/") or path in dialect.extra_paths:
                sub = path if path in dialect.extra_paths else path[len(prefix) :]
                body = request.json()
                model = dialect.request_model(sub, body)
                with self._lock:
                    self.requests.append(
                        RecordedRequest(name, request.method, path, request.headers, body, model)
                    )
                return await dialect.handle(request, sub)
        return JSONResponse(404, {"error": f"no dialect serves {request.path}"})

    async def __aenter__(self) -> ProviderEmulator:
        try:
            listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self._port)
        except OSError as exc:  # say where: "Address already in use" alone names nothing
            host = f"[{self.host}]" if ":" in self.host else self.host
            reason = exc.strerror or str(exc)
            raise OSError(exc.errno, f"cannot listen on {host}:{self._port}: {reason}") from exc
        self._port = listener.extra(SocketAttribute.local_port)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group

        async def serve_one(stream: anyio.abc.SocketStream) -> None:
            await serve_connection(stream, self._handle)

        async def serve() -> None:
            async with listener:
                await listener.serve(serve_one)

        task_group.start_soon(serve)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task_group, self._task_group = self._task_group, None
        for dialect in self._dialects.values():
            dialect.close()
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)

    def __enter__(self) -> ProviderEmulator:
        portal_cm = start_blocking_portal()
        portal = portal_cm.__enter__()
        try:
            sync = portal.wrap_async_context_manager(self)
            sync.__enter__()
        except BaseException:
            portal_cm.__exit__(None, None, None)
            raise
        self._portal_cm, self._sync = portal_cm, sync
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sync, portal_cm = self._sync, self._portal_cm
        self._sync = self._portal_cm = None
        if sync is not None and portal_cm is not None:
            try:
                sync.__exit__(None, None, None)
            finally:
                portal_cm.__exit__(None, None, None)
