"""The async orchestrator: fallback chain, retries, streams, discovery and cost recording."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from llmorch import _http
from llmorch._call import full_request as _full_request
from llmorch._call import given as _given
from llmorch._call import settle
from llmorch._options import refuse_unknown
from llmorch._retry import Backoff, decide
from llmorch.budgets import BudgetGuard
from llmorch.capabilities import learn
from llmorch.config import ConfigManager, OrchestratorConfig
from llmorch.costs import CostTracker
from llmorch.exceptions import (
    AllFallbacksFailedError,
    ConfigurationError,
    InvalidRequestError,
    ModelNotFoundError,
    OrchestratorError,
    OutputValidationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from llmorch.fit import fit
from llmorch.ledger.base import Hold, LedgerUnavailableError
from llmorch.messages import validate_messages
from llmorch.output import parse_answer, retry_messages, tool_answer, tool_events_as_text
from llmorch.pricing import usage_dimensions
from llmorch.providers import load_provider_class
from llmorch.registry import ModelRegistry, listing_key
from llmorch.request import ChatRequest
from llmorch.streaming import OpenedStream, ResponseStream, StreamAccumulator, open_attempt
from llmorch.telemetry import Telemetry
from llmorch.tool_loop import ToolLoopResult, ToolRunner, check_max_turns, run_loop
from llmorch.types import LLMResponse, Message, ParsedT, StreamEvent, normalize_tokens

if TYPE_CHECKING:
    from llmorch.conversation import Conversation
    from llmorch.providers.base import BaseLLMProvider

__all__ = ["AsyncLLMOrchestrator"]

logger = logging.getLogger("llmorch")
T = TypeVar("T")
_CALL_ORDER = (
    "temperature", "max_tokens", "top_p", "top_k", "stop", "seed", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning", "timeout", "extra_body", "extra_headers",
    "response_format", "output_retries",
)  # fmt: skip
_NOTHING = (None,) * len(_CALL_ORDER)  # a call that gives none of them


def benches_model(error: ProviderError) -> bool:
    """Whether an error says the model is unwell, so ``cooldown_s`` may bench it.

    Retryable errors (rate limits, outages, timeouts, connection failures) and a missing model
    do; errors specific to one request (context length, invalid request, content filter) never.

    Args:
        error: The model's last error.

    Returns:
        True when the model should cool down.
    """
    unwell = (
        ProviderUnavailableError,
        ProviderTimeoutError,
        ProviderConnectionError,
        ModelNotFoundError,
    )
    return error.is_retryable or isinstance(error, unwell)


def _what_failed(error: ProviderError) -> str:
    """``RateLimitError (HTTP 429, request_id req_1)``: the error's kind and what is known."""
    facts = [f"HTTP {error.status_code}"] if error.status_code is not None else []
    if error.request_id:
        facts.append(f"request_id {error.request_id}")
    return f"{type(error).__name__} ({', '.join(facts)})" if facts else type(error).__name__


def estimate_tokens(text: str) -> int:
    """A rough token count (four characters a token) for calls the provider never reported.

    Args:
        text: The text.

    Returns:
        The estimate (at least 1 for non-empty text).
    """
    return math.ceil(len(text) / 4)


class _Adapters:
    """Adapters by provider name, each built the first time it is asked for.

    Deliberately not a ``Mapping``: nothing generic (``dict()``, ``.values()``, a debugger's
    repr) can build every adapter, import every provider module or resolve every secret.
    """

    def __init__(self, config: OrchestratorConfig, http: _http.AsyncClient | None) -> None:
        self._config = config
        self._http = http
        self._owns_http = http is None
        self._made: dict[str, BaseLLMProvider] = {}

    @property
    def http(self) -> _http.AsyncClient:
        """The shared client, created on first use (inside the event loop that will drive it)."""
        if self._http is None:
            self._http = _http.create_client(self._config.http_transport)
        return self._http

    def __getitem__(self, name: str) -> BaseLLMProvider:
        """Build (once) and return the adapter of provider ``name``.

        Raises:
            ConfigurationError: Unknown provider, an unset ``${VAR}`` it needs, or its type
                cannot be imported.
        """
        adapter = self._made.get(name)
        if adapter is None:
            provider_config = self._config.require_provider(name)
            cls = load_provider_class(provider_config.type)
            adapter = self._made[name] = cls(name, provider_config, self.http)
        return adapter

    async def aclose(self) -> None:
        for adapter in self._made.values():
            await adapter.aclose()
        if self._owns_http and self._http is not None:
            await self._http.aclose()


class _Leftovers:
    """What the finaliser of an orchestrator that was never ``aclose()``-d releases.

    It holds the client, never the orchestrator. In a forked child it does nothing: the
    parent's sockets are the parent's.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.client: _http.AsyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = 0

    def track(self, client: _http.AsyncClient) -> None:
        """Remember the client and the loop (and thread) it runs on.

        Args:
            client: The orchestrator's own client.
        """
        self.client = client
        self.thread = threading.get_ident()
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:  # trio: httpx's pool, whose sockets close quietly when collected
            self.loop = None

    def release(self) -> None:
        """Close the client's connections, from whatever thread the GC uses, without waiting."""
        client, loop = self.client, self.loop
        if client is None or os.getpid() != self.pid:
            return
        if loop is None or not loop.is_running():
            _release_now(client)  # (its loop has closed, or it ran on trio)
        elif threading.get_ident() == self.thread:
            _release_on_loop(loop, client)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_release_on_loop, loop, client)


def _release_now(client: _http.AsyncClient) -> None:
    try:
        _http.release_unawaited(client)
    except Exception:  # a finaliser never raises
        logger.debug("error while releasing an unclosed client", exc_info=True)


def _release_on_loop(loop: asyncio.AbstractEventLoop, client: _http.AsyncClient) -> None:
    """On the client's running loop: close what closes synchronously, then the rest."""
    _release_now(client)

    async def aclose() -> None:
        try:
            await client.aclose()
        except Exception:  # already broken: nothing more to release
            logger.debug("error while closing an unclosed client", exc_info=True)

    task = loop.create_task(aclose())
    _CLOSING.add(task)  # the loop keeps only a weak reference to its tasks
    task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Task[None]] = set()


def _prepare(config: OrchestratorConfig, transport: str) -> _http.AsyncClient:
    """Import the adapters start-up will use and build the client (in a worker thread).

    A function of the config, not a method: the worker thread never holds the orchestrator.
    """
    discovery = config.model_discovery.refresh_on_start
    unset = {path.split(".")[1] for path in config.unset_variables()}  # skipped at start-up
    for name, provider_config in config.providers.items():
        if name == config.active_provider or (discovery and name not in unset):
            with contextlib.suppress(Exception):  # reported when that provider is used
                load_provider_class(provider_config.type)
    return _http.create_client(transport, on_asyncio=transport == "aiohttp")


class AsyncLLMOrchestrator:
    """One interface to every configured provider, with fallback, retries and cost tracking.

    Use it as an async context manager (or call :meth:`aclose` yourself)::

        async with AsyncLLMOrchestrator("config.yaml") as orch:
            response = await orch.send_request([{"role": "user", "content": "Hi"}])

    Args:
        config: A path to a YAML config, an :class:`~llmorch.OrchestratorConfig`, or a
            dict of the same shape as the YAML (``${VAR}`` references resolved).
        session_id: Labels every ledger record of this orchestrator (random by default).
        http_client: An ``httpx.AsyncClient`` to use instead of creating one; the caller owns it.

    Attributes:
        config: The validated configuration.
        session_id: This orchestrator's session id.
        cost_tracker: Records every successful call.
        registry: The discovered models.
    """

    _sleep: Callable[[float], Awaitable[None]] = staticmethod(anyio.sleep)

    def __init__(
        self,
        config: str | os.PathLike[str] | OrchestratorConfig | Mapping[str, Any],
        *,
        session_id: str | None = None,
        http_client: _http.AsyncClient | None = None,
    ) -> None:
        if isinstance(config, Mapping):
            config = OrchestratorConfig.from_dict(config)
        elif not isinstance(config, OrchestratorConfig):
            config = ConfigManager.load_config(config)
        self.config = config
        self.session_id = session_id or uuid.uuid4().hex
        self._http = http_client
        self._owns_http = False
        self._adapters: _Adapters | None = None
        self._registry: ModelRegistry | None = None
        self._started = False
        self._starting: anyio.Event | None = None
        self._closed = False
        self._leftovers = _Leftovers()
        self._finalizer = weakref.finalize(self, self._leftovers.release)
        self._cooldown: dict[tuple[str, str], float] = {}
        self._owned: dict[str, frozenset[str]] = {}  # per provider: the body fields it builds
        tracking = config.cost_tracking
        self.cost_tracker = CostTracker(
            enabled=tracking.enabled,
            log_path=tracking.log_path,
            pricing=config.pricing,
            ledger=tracking.ledger,
            spool_path=tracking.spool_path,
            provider_types={name: p.type for name, p in config.providers.items()},
            prices=config.price_table(),
        )
        self._budgets = BudgetGuard(
            config.budgets,
            self.cost_tracker,
            ttl_s=config.budget_reservation_ttl_s,
            fail_open=config.budgets_fail_open,
        )
        self._telemetry = Telemetry(config.observability, config.providers)

    def __repr__(self) -> str:
        return (
            f"AsyncLLMOrchestrator(active={self.config.active_provider}/"
            f"{self.config.active_model}, session_id={self.session_id!r})"
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def registry(self) -> ModelRegistry:
        """The model registry (created on first use)."""
        if self._registry is None:
            self._adapter_map()  # refuses once closed; builds no adapter
            self._registry = ModelRegistry(
                tuple(self.config.providers),
                adapter=lambda name: self._adapter_map()[name],
                cache_path=self.config.model_discovery.cache_path,
                on_usage=self._record_response,
                listing_keys={n: listing_key(p) for n, p in self.config.providers.items()},
            )
        return self._registry

    def _adapter_map(self) -> _Adapters:
        if self._closed:
            raise OrchestratorError("the orchestrator is closed")
        if self._adapters is None:
            self._adapters = _Adapters(self.config, self._http)
        return self._adapters

    async def __aenter__(self) -> AsyncLLMOrchestrator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Create the HTTP client and discover models (once). Called by ``async with``.

        With ``model_discovery.refresh_on_start``, only the providers whose cached listing is
        older than ``model_discovery.max_age`` (or missing) are listed. The imports and the
        client (with its TLS context) are built in a worker thread, so start-up does not block
        the event loop.
        """
        if self._started:
            return
        if self._starting is not None:  # another task is starting it
            await self._starting.wait()
            return
        self._starting = anyio.Event()
        try:
            if self._closed:
                raise OrchestratorError("the orchestrator is closed")
            if self._http is None and self._adapters is None:
                transport = _http.resolve_transport(self.config.http_transport)  # asks the loop
                self._http = await anyio.to_thread.run_sync(_prepare, self.config, transport)
                self._owns_http = True
                self._leftovers.track(self._http)
            self._adapter_map()
            self._started = True
            await self.registry.load()
            if self.config.model_discovery.refresh_on_start:
                await self._discover_all(older_than=self.config.model_discovery.max_age)
        finally:
            starting, self._starting = self._starting, None
            starting.set()

    async def _discover_all(self, older_than: float | None = None) -> None:
        # One refresh of every (stale) listing: concurrent, providers that cannot be built
        # skipped with a WARNING, failures logged, and the cache written once.
        await self.registry.refresh_models(older_than=older_than)

    async def aclose(self) -> None:
        """Release the HTTP client (unless injected) and every adapter. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        with anyio.CancelScope(shield=True):
            if self._adapters is not None:
                await self._adapters.aclose()
            if self._owns_http and self._http is not None:
                await self._http.aclose()
            backend = self.cost_tracker.backend
            if backend is not None and backend.blocking:  # a database pool: may take a while
                await anyio.to_thread.run_sync(self.cost_tracker.close)
            else:
                self.cost_tracker.close()

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.start()

    # -- chain ---------------------------------------------------------------------------------

    def _chain(self, provider: str | None, model: str | None) -> tuple[str, list[str]]:
        name = provider or self.config.active_provider
        provider_config = self.config.provider(name)
        if model is not None:
            first: list[str] = [model]
        elif name == self.config.active_provider:
            first = [self.config.active_model]
        else:
            first = []
        chain = list(dict.fromkeys(first + list(provider_config.fallback_models)))
        if not chain:
            raise ConfigurationError(
                f"provider {name!r} has no fallback_models: pass model= to choose one"
            )
        return name, chain

    async def _cooling(self, name: str, chain: list[str]) -> list[str]:
        """The chain without the models benched by ``cooldown_s`` (all of it if all are).

        With a shared ledger (SQL) a model another process benched is skipped too.
        """
        now = time.time()
        benched = {m for (p, m), until in self._cooldown.items() if p == name and until > now}
        backend = self.cost_tracker.backend
        if backend is not None and backend.shared and not self.cost_tracker.ledger_down:
            try:
                benched |= set(await anyio.to_thread.run_sync(backend.benched, name, now))
            except LedgerUnavailableError as exc:
                logger.debug("shared cooldowns unavailable: %s", exc)
        ready = [m for m in chain if m not in benched]
        return ready or chain

    async def _bench(self, name: str, model: str, seconds: float) -> None:
        until = time.time() + seconds
        self._cooldown[(name, model)] = until
        backend = self.cost_tracker.backend
        if backend is not None and backend.shared:
            try:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(backend.bench, name, model, until)
            except LedgerUnavailableError as exc:
                logger.debug("could not share the cooldown of %s/%s: %s", name, model, exc)

    async def _run_chain(
        self,
        name: str,
        chain: list[str],
        attempt: Callable[[BaseLLMProvider, str], Awaitable[T]],
    ) -> tuple[T, str, list[tuple[str, OrchestratorError]]]:
        adapter = self._adapter_map()[name]
        provider_config = self.config.providers[name]
        backoff = Backoff(max_s=provider_config.max_backoff_s)
        attempts: list[tuple[str, OrchestratorError]] = []
        models = await self._cooling(name, chain) if provider_config.cooldown_s > 0 else chain
        for index, model in enumerate(models):
            if self._registry is not None:
                self._registry.warn_if_deprecated(name, model)
            retry = 0
            while True:
                if self._closed:  # closed while this call waited to retry or move on
                    raise OrchestratorError("the orchestrator is closed")
                try:
                    with self._telemetry.attempt(model, retry):
                        return await attempt(adapter, model), model, attempts
                except ProviderError as exc:
                    error = exc
                decision = decide(error)
                if decision == "stop":
                    raise error
                why = ""
                if decision == "retry" and retry < provider_config.max_retries:
                    delay = backoff.delay(retry, error)
                    if delay is not None:
                        retry += 1
                        logger.info(
                            "retrying %s/%s in %.2fs (%s, retry %d of %d) after %s",
                            name,
                            model,
                            delay,
                            "the server's Retry-After"
                            if error.retry_after is not None
                            else "backoff with jitter",
                            retry,
                            provider_config.max_retries,
                            _what_failed(error),
                        )
                        await self._sleep(delay)
                        continue
                    why = (
                        f"; the server asked to wait {error.retry_after:g}s, more than "
                        f"max_backoff_s={provider_config.max_backoff_s:g}"
                    )
                elif decision == "retry":
                    used = provider_config.max_retries
                    why = f"; {used} {'retry' if used == 1 else 'retries'} used"
                break
            attempts.append((model, error))
            if provider_config.cooldown_s > 0 and benches_model(error):
                await self._bench(name, model, provider_config.cooldown_s)
            if index + 1 < len(models):
                logger.warning(
                    "model %s/%s failed with %s%s; falling back to %s",
                    name,
                    model,
                    _what_failed(error),
                    why,
                    models[index + 1],
                )
        raise AllFallbacksFailedError(attempts)

    # -- requests ------------------------------------------------------------------------------

    def _request(
        self,
        messages: object,
        name: str,
        values: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        model: str,
    ) -> ChatRequest:
        """Validate one call and build its typed request (before any network call).

        ``values`` are the call's arguments in ``_CALL_ORDER``; ``model`` is the chain's first
        model: the request is built for it, so the common call (the first model answers) never
        copies the request.
        """
        owned = self._owned.get(name)
        if owned is None:
            owned = self._owned[name] = load_provider_class(
                self.config.providers[name].type
            ).owned_fields
        if kwargs:
            refuse_unknown(kwargs, owned)
        checked = validate_messages(messages)
        if values == _NOTHING:  # nothing but messages: the common call
            return ChatRequest(checked, model)
        call = _given(**dict(zip(_CALL_ORDER, values, strict=True)))
        return _full_request(checked, owned, call).with_model(model)

    async def send_request(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: type[ParsedT] | Mapping[str, Any] | None = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
        timeout: float | _http.Timeout | None = None,  # noqa: ASYNC109 - the vendor call's
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> LLMResponse[ParsedT]:
        """Send a chat request down the fallback chain and return the first success.

        Args:
            messages: The history in the OpenAI Chat shape: ``system``, ``developer``,
                ``user``, ``assistant`` (with ``tool_calls`` and ``reasoning``) and ``tool``
                turns; ``content`` a str or a list of text parts.
            temperature: Sent only when given (reasoning models reject one).
            max_tokens: Sent only when given (Anthropic gets 4096 by default: it requires one).
            provider: Use this configured provider for this call (never switched automatically).
            model: Try this model first, then the provider's ``fallback_models``.
            tags: Labels written to this call's ledger record (e.g. ``{"feature": "search"}``).
            top_p: Nucleus sampling.
            top_k: Top-k sampling (refused before any call by vendors without it).
            stop: A stop sequence or a list of them.
            seed: A sampling seed (refused before any call by vendors without it).
            tools: Tools the model may call: OpenAI tool dicts, :class:`~llmorch.Tool`,
                pydantic model classes or functions.
            tool_choice: ``"auto"``, ``"none"``, ``"required"``, a tool name, or OpenAI's dict.
            parallel_tool_calls: Allow or forbid several tool calls in one answer.
            response_format: Answer in this shape: a pydantic model class (or a type such as
                ``list[Item]``), ``{"type": "json_schema", "json_schema": {"name", "schema",
                "strict"?}}`` or ``{"type": "json_object"}``; ``response.parsed`` holds the
                validated answer.
            output_retries: Re-ask this often when the answer does not validate (each time a
                ledger record).
            reasoning: ``"none"``, ``"low"``, ``"medium"``, ``"high"`` or
                ``{"effort": ..., "budget_tokens": N}``, mapped per vendor and model.
            timeout: This call's timeout per attempt (seconds or an ``httpx.Timeout``), instead
                of the provider's ``timeout``.
            extra_body: Vendor fields deep-merged into the request body (dicts merge, other
                values replace); it may not set fields llmorch builds (``model``, ``messages``,
                ``stream``, ...).
            extra_headers: Extra request headers (never credentials).
            **kwargs: Refused: any other keyword raises ``InvalidRequestError`` naming it
                (vendor fields go in ``extra_body``).

        Returns:
            The response, with ``cost`` recorded and ``attempts`` listing earlier failures.

        Raises:
            InvalidRequestError: The messages or arguments are malformed (before any network
                call).
            AuthenticationError: The provider rejected the credentials (stops the chain).
            PermissionDeniedError: The credentials may not do this (stops the chain).
            AllFallbacksFailedError: Every model failed; ``.attempts`` has each error.
            ConfigurationError: Unknown provider, or its config is incomplete.
        """
        name, chain = self._chain(provider, model)
        values = (
            temperature, max_tokens, top_p, top_k, stop, seed, tools, tool_choice,
            parallel_tool_calls, reasoning, timeout, extra_body, extra_headers,
            response_format, output_retries,
        )  # fmt: skip
        request = self._request(messages, name, values, kwargs, chain[0])
        return await self._send_typed(request, name, chain, tags)

    async def run_tools(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        tools: Sequence[Any],
        max_turns: int = 8,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Any = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
        timeout: float | _http.Timeout | None = None,  # noqa: ASYNC109 - the vendor call's
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ToolLoopResult:
        """Run a tool loop: ask the model, run the tools it calls, send back the results, repeat.

        Each model turn is one call down the fallback chain (one ledger record, ``tags`` on
        every one). The calls of one turn run concurrently: coroutine functions are awaited,
        plain functions run in a worker thread. Arguments are validated against the function's
        signature (pydantic); invalid arguments, an exception the tool raises, or a call of a
        tool that does not exist go back to the model as that call's result (``"Error: ..."``)
        and are never raised here. A return value is sent as is when it is a ``str``, else as
        JSON. A forced ``tool_choice`` (``"required"`` or a tool name) applies to the first
        turn only.

        Args:
            messages: As for :meth:`send_request`.
            temperature: As for :meth:`send_request` (every turn).
            max_tokens: As for :meth:`send_request` (every turn).
            tools: The tools: Python functions (sync or async; schema from the signature and
                docstring), or :class:`~llmorch.Tool` values with ``function=`` set.
            max_turns: The most model turns to make (at least 1).
            provider: As for :meth:`send_request`.
            model: As for :meth:`send_request`.
            tags: Labels written to every turn's ledger record.
            top_p: As for :meth:`send_request`.
            top_k: As for :meth:`send_request`.
            stop: As for :meth:`send_request`.
            seed: As for :meth:`send_request`.
            tool_choice: As for :meth:`send_request`; a forced choice holds for the first turn.
            parallel_tool_calls: As for :meth:`send_request`.
            response_format: As for :meth:`send_request` (the final turn's answer).
            output_retries: As for :meth:`send_request`.
            reasoning: As for :meth:`send_request`; the reasoning state of each turn goes
                back with it (same provider type and model family).
            timeout: As for :meth:`send_request` (per attempt of each turn).
            extra_body: As for :meth:`send_request`.
            extra_headers: As for :meth:`send_request`.
            **kwargs: Refused, as for :meth:`send_request`.

        Returns:
            The final answer, with ``.messages`` (the whole history, ready to continue) and
            ``.turns`` (every turn's response); ``.cost`` and ``.tokens_used`` are the totals.

        Raises:
            InvalidRequestError: Malformed messages or arguments, a tool without a Python
                function, or ``max_turns`` below 1 (before any network call).
            MaxTurnsExceededError: The model still called tools on turn ``max_turns``; it
                carries ``.messages`` (those calls unanswered) and ``.turns``.
            AllFallbacksFailedError: A turn failed on every model (as for
                :meth:`send_request`).
        """
        return await self._run_tools(
            messages,
            [],
            temperature=temperature,
            max_tokens=max_tokens,
            tools=tools,
            max_turns=max_turns,
            provider=provider,
            model=model,
            tags=tags,
            top_p=top_p,
            top_k=top_k,
            stop=stop,
            seed=seed,
            tool_choice=tool_choice,
            parallel_tool_calls=parallel_tool_calls,
            response_format=response_format,
            output_retries=output_retries,
            reasoning=reasoning,
            timeout=timeout,
            extra_body=extra_body,
            extra_headers=extra_headers,
            **kwargs,
        )

    async def _run_tools(
        self,
        messages: list[Message],
        turns: list[LLMResponse],
        *,
        tools: Sequence[Any],
        max_turns: int = 8,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        **arguments: Any,
    ) -> ToolLoopResult:
        """:meth:`run_tools`, appending each turn's response to ``turns`` as it arrives."""
        name, chain = self._chain(provider, model)
        values = tuple(tools if k == "tools" else arguments.pop(k, None) for k in _CALL_ORDER)
        request = self._request(messages, name, values, arguments, chain[0])
        runner = ToolRunner(request.tools)
        limit = check_max_turns(max_turns)
        history = [dict(message) for message in messages]

        async def send(turn: ChatRequest) -> LLMResponse:
            return await self._send_typed(turn, name, chain, tags)

        return await run_loop(request, history, runner, send, limit, turns)

    def _fit(self, request: ChatRequest, name: str) -> ChatRequest:
        """Fit a request to its model for provider ``name`` (SPEC §2.10)."""
        config = self.config.providers[name]
        return fit(request, config.type, config.unsupported)

    def _relearned(
        self, adapter: BaseLLMProvider, base: ChatRequest, sent: ChatRequest, exc: ProviderError
    ) -> ChatRequest | None:
        """After a 400 naming a parameter the model refuses: the request to retry once, or None.

        The fact is remembered for the process (the next call leaves the parameter out at once).
        """
        config = adapter.config
        if not isinstance(exc, InvalidRequestError) or config.unsupported == "error":
            return None
        parameter = adapter.unsupported_parameter(exc)
        if parameter is None or getattr(sent, parameter, None) is None:
            return None
        learn(config.type, sent.model, parameter)
        logger.info("%s/%s refused %s: retrying without it", adapter.name, sent.model, parameter)
        return self._fit(base, adapter.name)

    async def _send_typed(
        self,
        request: ChatRequest,
        name: str,
        chain: list[str],
        tags: Mapping[str, str] | None = None,
    ) -> LLMResponse[Any]:
        """Send an already validated request down a chain (the tool loop's turns use it).

        With ``response_format``, the answer is parsed after it is recorded; ``output_retries``
        re-asks with the validation errors.

        Args:
            request: The typed request (its ``model`` is set per attempt).
            name: The configured provider name.
            chain: The models to try, in order.
            tags: Labels for the ledger record.

        Returns:
            The recorded response.

        Raises:
            OutputValidationError: The last answer did not validate (it is recorded).
        """
        await self._ensure_started()
        retries = request.output_retries
        while True:
            response, sent = await self._send_once(request, name, chain, tags)
            if request.response_format is None:
                return response
            try:
                parse_answer(response, sent)
            except OutputValidationError as exc:
                exc.response = response
                if retries <= 0:
                    raise
                retries -= 1
                logger.info("the answer did not validate (%s); asking again", exc)
                more = retry_messages(exc.text, exc.errors)
                request = dataclasses.replace(request, messages=request.messages + more)
                continue
            return response

    async def _send_once(
        self,
        request: ChatRequest,
        name: str,
        chain: list[str],
        tags: Mapping[str, str] | None,
    ) -> tuple[LLMResponse[Any], ChatRequest]:
        """One call down the chain, recorded; with the request the answering model got."""
        first = self._fit(request.with_model(chain[0]), name)  # raises before any I/O
        fitted = {first.model: first}
        holds: dict[str, Hold | None] = {}

        async def attempt(adapter: BaseLLMProvider, model_id: str) -> LLMResponse[Any]:
            base = request.with_model(model_id)
            sent = fitted.get(model_id) or fitted.setdefault(model_id, self._fit(base, name))
            hold = holds[model_id] = (
                await self._reserve(adapter, sent, tags) if self._budgets.budgets else None
            )
            started = time.perf_counter()
            try:
                try:
                    response = await adapter.send_request(sent)
                except ProviderError as exc:
                    again = self._relearned(adapter, base, sent, exc)
                    if again is None:
                        raise
                    sent = fitted[model_id] = again
                    response = await adapter.send_request(sent)
            except BaseException:
                await self._budgets.release(hold)
                raise
            response.latency_s = time.perf_counter() - started
            if sent.output is not None and sent.output.mode == "tool":
                tool_answer(response)
            if response.tool_calls or response.reasoning_items:
                settle(response, sent, adapter.config.type)
            if sent.warnings:
                response.warnings = list(sent.warnings)
            return response

        with self._telemetry.call(request, name) as call:
            response, model_id, attempts = await self._run_chain(name, chain, attempt)
            response.attempts = attempts
            await self._record_response(response, tags, holds.get(model_id))
            call.answered(response)
        return response, fitted[model_id]

    async def _reserve(
        self, adapter: BaseLLMProvider, sent: ChatRequest, tags: Mapping[str, str] | None
    ) -> Hold | None:
        """Reserve an attempt's worst case under its budgets (raises before any I/O)."""
        return await self._budgets.reserve(
            adapter.name, adapter.config.type, sent, self.session_id, tags
        )

    async def _record_response(
        self,
        response: LLMResponse,
        tags: Mapping[str, str] | None = None,
        hold: Hold | None = None,
    ) -> None:
        record = await self.cost_tracker.alog_usage(
            response.provider,
            response.model,
            response.tokens_used,
            self.session_id,
            model_answered=response.model_answered,
            request_id=response.request_id,
            tags=tags,
            dimensions=usage_dimensions(response.raw_response),
            latency_s=response.latency_s,
            tool_calls=[call.name for call in response.tool_calls],
            warnings=response.warnings,
            hold=hold,
        )
        response.cost = record.cost

    def send_streaming_request(
        self,
        messages: list[Message],
        temperature: float | None = None,
        max_tokens: int | None = None,
        *,
        provider: str | None = None,
        model: str | None = None,
        tags: Mapping[str, str] | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        tools: Sequence[Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Any = None,
        output_retries: int | None = None,
        reasoning: str | Mapping[str, Any] | None = None,
        timeout: float | _http.Timeout | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ResponseStream:
        """Stream a chat request; fallback happens only before the first content event.

        Use ``async with orch.send_streaming_request(msgs) as stream: async for chunk in
        stream`` (or iterate it bare), or ``async for event in stream.events()`` for typed
        events (tool calls, reasoning, usage). Usage is always requested from the provider.

        Args:
            messages: As for :meth:`send_request`.
            temperature: Sent only when given.
            max_tokens: Sent only when given.
            provider: Use this configured provider for this call.
            model: Try this model first.
            tags: Labels written to this call's ledger record.
            top_p: As for :meth:`send_request`.
            top_k: As for :meth:`send_request`.
            stop: As for :meth:`send_request`.
            seed: As for :meth:`send_request`.
            tools: As for :meth:`send_request`.
            tool_choice: As for :meth:`send_request`.
            parallel_tool_calls: As for :meth:`send_request`.
            response_format: As for :meth:`send_request`; ``stream.response.parsed`` at the
                end.
            output_retries: Refused: a stream cannot take back what it delivered.
            reasoning: As for :meth:`send_request`.
            timeout: The time each event may take after the previous one (and the first after
                the request), instead of the provider's ``timeout``.
            extra_body: As for :meth:`send_request`.
            extra_headers: As for :meth:`send_request`.
            **kwargs: Refused, as for :meth:`send_request`.

        Returns:
            The stream; ``stream.response`` once it has ended.

        Raises:
            InvalidRequestError: The messages or arguments are malformed (raised here, before
                any I/O).
        """
        name, chain = self._chain(provider, model)
        values = (
            temperature, max_tokens, top_p, top_k, stop, seed, tools, tool_choice,
            parallel_tool_calls, reasoning, timeout, extra_body, extra_headers,
            response_format, output_retries,
        )  # fmt: skip
        request = self._request(messages, name, values, kwargs, chain[0])
        return self._stream_typed(request, name, chain, tags)

    def _stream_typed(
        self,
        request: ChatRequest,
        name: str,
        chain: list[str],
        tags: Mapping[str, str] | None = None,
    ) -> ResponseStream:
        """Stream an already validated request down a chain.

        Args:
            request: The typed request.
            name: The configured provider name.
            chain: The models to try, in order.
            tags: Labels for the ledger record.

        Returns:
            The stream.

        Raises:
            InvalidRequestError: ``output_retries`` was given, or the first model cannot take
                the request (raised here, before any I/O).
        """
        if request.output_retries:
            raise InvalidRequestError(
                "output_retries cannot be used with a stream: a stream cannot take back what it "
                "delivered; use send_request() to have invalid answers re-asked"
            )
        first = self._fit(request.with_model(chain[0]), name)
        fitted = {first.model: first}
        call = self._telemetry.call(request, name, stream=True)

        def events_for(adapter: BaseLLMProvider, sent: ChatRequest) -> AsyncIterator[StreamEvent]:
            events = adapter.send_streaming_request(sent)
            if sent.output is not None and sent.output.mode == "tool":
                return tool_events_as_text(events)
            return events

        async def attempt(adapter: BaseLLMProvider, model_id: str) -> OpenedStream:
            base = request.with_model(model_id)
            sent = fitted.get(model_id) or fitted.setdefault(model_id, self._fit(base, name))
            hold = await self._reserve(adapter, sent, tags) if self._budgets.budgets else None
            try:
                try:
                    opened = OpenedStream(
                        name, model_id, events_for(adapter, sent), StreamAccumulator(), [],
                        time.perf_counter(), hold=hold,
                    )  # fmt: skip
                    return await open_attempt(opened)
                except ProviderError as exc:
                    again = self._relearned(adapter, base, sent, exc)
                    if again is None:
                        raise
                    sent = fitted[model_id] = again
                    opened = OpenedStream(
                        name, model_id, events_for(adapter, sent), StreamAccumulator(), [],
                        time.perf_counter(), hold=hold,
                    )  # fmt: skip
                    return await open_attempt(opened)
            except BaseException:
                await self._budgets.release(hold)
                raise

        async def opener() -> OpenedStream:
            await self._ensure_started()
            with call:
                opened, _, attempts = await self._run_chain(name, chain, attempt)
            opened.attempts = attempts
            return opened

        def finish(opened: OpenedStream, complete: bool) -> LLMResponse[Any]:
            response = self._finish_stream(opened, complete, fitted[opened.model], tags)
            call.ended(response, complete, opened.error)
            return response

        async def afinish(opened: OpenedStream, complete: bool) -> LLMResponse[Any]:
            response = await self._afinish_stream(opened, complete, fitted[opened.model], tags)
            call.ended(response, complete, opened.error)
            return response

        def validate(response: LLMResponse[Any]) -> None:
            try:
                parse_answer(response, fitted[response.model])
            except OutputValidationError as exc:
                exc.response = response
                raise

        return ResponseStream(
            opener, finish, validate if request.response_format else None, afinish
        )

    def _finish_stream(
        self,
        opened: OpenedStream,
        complete: bool,
        request: ChatRequest,
        tags: Mapping[str, str] | None,
    ) -> LLMResponse[Any]:
        """Record a stream that ended and build its response, blocking (a finaliser's path)."""
        usage = self._stream_usage(opened, complete, request, tags)
        record = self.cost_tracker.log_usage(*usage[0], **usage[1])
        return self._stream_response(opened, request, usage[0][2], record.cost, usage[1])

    async def _afinish_stream(
        self,
        opened: OpenedStream,
        complete: bool,
        request: ChatRequest,
        tags: Mapping[str, str] | None,
    ) -> LLMResponse[Any]:
        """Record a stream that ended and build its response, off the event loop."""
        usage = self._stream_usage(opened, complete, request, tags)
        record = await self.cost_tracker.alog_usage(*usage[0], **usage[1])
        return self._stream_response(opened, request, usage[0][2], record.cost, usage[1])

    def _stream_usage(
        self,
        opened: OpenedStream,
        complete: bool,
        request: ChatRequest,
        tags: Mapping[str, str] | None,
    ) -> tuple[tuple[str, str, dict[str, int], str], dict[str, Any]]:
        """The ledger record's arguments for a stream that ended."""
        acc = opened.accumulator
        text = acc.text
        tokens = acc.tokens
        estimated = False
        if tokens is None:
            estimated = True
            tokens = normalize_tokens(
                estimate_tokens("".join(m.text for m in request.messages)),
                estimate_tokens(text),
            )
        elif not complete and tokens["completion"] < estimate_tokens(text):
            estimated = True
            tokens = {**tokens, "completion": estimate_tokens(text)}
            tokens["total"] = tokens["prompt"] + tokens["completion"]
        return (opened.provider, opened.model, tokens, self.session_id), {
            "model_answered": acc.model_answered,
            "request_id": acc.request_id,
            "complete": complete,
            "estimated": estimated,
            "tags": tags,
            "dimensions": usage_dimensions(acc.raw),
            "latency_s": time.perf_counter() - opened.started,
            "tool_calls": [call.name for call in acc.tool_calls],
            "warnings": request.warnings,
            "hold": opened.hold,
        }

    def _stream_response(
        self,
        opened: OpenedStream,
        request: ChatRequest,
        tokens: dict[str, int],
        cost: float,
        usage: Mapping[str, Any],
    ) -> LLMResponse[Any]:
        acc = opened.accumulator
        response: LLMResponse[Any] = LLMResponse(
            content=acc.text,
            model=opened.model,
            provider=opened.provider,
            tokens_used=tokens,
            finish_reason=acc.finish_reason,
            cost=cost,
            request_id=acc.request_id,
            latency_s=usage["latency_s"],
            attempts=opened.attempts,
            raw_response=acc.raw,
            model_answered=acc.model_answered,
            tool_calls=list(acc.tool_calls),
            reasoning=acc.reasoning,
            reasoning_items=acc.reasoning_items,
            warnings=list(request.warnings),
        )
        if response.tool_calls or response.reasoning_items:
            provider_type = self.config.providers[opened.provider].type
            settle(response, request, provider_type)
        return response

    # -- models and costs ---------------------------------------------------------------------

    async def get_available_models(self, provider: str | None = None) -> list[str]:
        """Model ids of a provider, from the registry cache (fetched once if never listed).

        Args:
            provider: A configured provider name (the active one by default).

        Returns:
            The non-deprecated model ids, sorted.
        """
        name = provider or self.config.active_provider
        self.config.provider(name)
        if not self.registry.has_fetched(name):
            await self.registry.refresh_models(name)
        return [m.name for m in self.registry.get_available_models(name)]

    async def refresh_models(self, provider_name: str | None = None) -> None:
        """Ask the vendors for their model lists again.

        Args:
            provider_name: One provider (its errors propagate), or all of them (failures are
                logged at WARNING).
        """
        if provider_name is None:
            await self._discover_all()
        else:
            await self.registry.refresh_models(provider_name)

    def get_session_cost(self) -> float:
        """USD spent by this orchestrator's session so far.

        Returns:
            The sum of the recorded costs.
        """
        return self.cost_tracker.get_session_cost(self.session_id)

    async def budgets(self) -> list[dict[str, Any]]:
        """Every configured budget's current window, read from the ledger (all processes).

        Returns:
            One dict per budget, in configured order: ``name``, ``window`` (``2026-12-01``,
            ``2026-12`` or ``total``), ``limit_usd``, ``spent_usd``, ``reserved_usd`` (calls in
            flight) and ``remaining_usd``.

        Raises:
            OrchestratorError: The ledger cannot be reached.
        """
        return await self._budgets.state()

    def conversation(
        self,
        system: str | None = None,
        *,
        messages: list[Message] | None = None,
        provider: str | None = None,
        model: str | None = None,
        max_messages: int | None = None,
        tools: Sequence[Any] | None = None,
        max_turns: int = 8,
    ) -> Conversation:
        """Start a conversation pinned to one provider, or continue a stored one.

        Args:
            system: An optional system message kept at the start of the history.
            messages: A stored history to continue (e.g. an earlier ``conv.messages``); it may
                open with the system message, which must then equal ``system`` if both are given.
            provider: The provider to pin (the active one by default).
            model: The model to try first each turn.
            max_messages: Keep the system message plus only the last N messages.
            tools: Functions (or ``Tool`` values with ``function=``): each ``send`` then runs
                the tool loop of :meth:`run_tools` and keeps every turn of it.
            max_turns: With ``tools``, the most model turns one ``send`` makes.

        Returns:
            A new :class:`~llmorch.Conversation`.

        Raises:
            InvalidRequestError: ``messages`` is malformed (see :class:`~llmorch.Conversation`);
                nothing is sent.
        """
        from llmorch.conversation import Conversation

        return Conversation(
            self,
            system=system,
            messages=messages,
            provider=provider,
            model=model,
            max_messages=max_messages,
            tools=tools,
            max_turns=max_turns,
        )
