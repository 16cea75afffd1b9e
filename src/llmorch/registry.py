"""The model registry: what each provider lists, remembered across restarts.

The registry asks every configured provider for its models, merges each listing into what it knew
before and keeps the result in memory and, optionally, in a JSON file. A model that disappears from
a listing is kept and marked deprecated, never removed, so the next start-up (a new registry over
the same file) still notices that it went away.

A listing is remembered under what identifies it (:func:`listing_key`: the provider type and its
endpoint, region, project, …), not under the provider's configured name: two projects sharing the
default cache file, each with an ``openai`` provider on a different server, keep two entries and
never mark each other's models deprecated; two names for one endpoint share one listing.

Reading the cache (:meth:`ModelRegistry.get_available_models`, :meth:`ModelRegistry.has_fetched`,
:meth:`ModelRegistry.is_model_deprecated`) never touches the network and never builds an adapter:
the registry knows providers by name and asks for an adapter only to list or validate. The cache
file format::

    {"version": 2,
     "providers": {"<listing key>": {"fetched_at": "<iso>",
                              "models": {"<id>": {"deprecated": false,
                                                  "first_seen": "<iso>",
                                                  "last_seen": "<iso>",
                                                  "last_validated": "<iso>" | null,
                                                  "raw": {...}}}}}}

It holds only what the adapters returned in :attr:`~llmorch.types.ModelInfo.raw`, and listing
keys without userinfo or query strings: never a credential. A version 1 file (keyed by provider
name) is replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import math
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread

from llmorch.exceptions import (
    ConfigurationError,
    ContentFilteredError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from llmorch.providers.base import ping
from llmorch.types import ModelInfo

if TYPE_CHECKING:
    from llmorch.config import ProviderConfig
    from llmorch.providers.base import BaseLLMProvider
    from llmorch.types import LLMResponse

__all__ = ["CACHE_VERSION", "ModelRegistry", "listing_key"]

logger = logging.getLogger("llmorch.registry")

CACHE_VERSION = 2
"""The version written to, and required from, the on-disk model cache."""

# The settings that decide what a provider's model listing contains (its server, account scope,
# region or project). Credentials are left out: a cache file never holds a secret.
_IDENTITY = (
    "base_url",
    "endpoint_url",
    "control_endpoint_url",
    "region_name",
    "profile_name",
    "project_id",
    "location",
    "credentials_path",
    "organization",
    "project",
)


def _public_url(value: str) -> str:
    """A URL without userinfo, query or fragment, and without a trailing slash."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return value.split("?", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def listing_key(config: ProviderConfig) -> str:
    """What identifies a provider's model listing: its type and where and as whom it lists.

    Args:
        config: A provider's settings.

    Returns:
        ``"<type>"`` followed by `` key=value`` for each identifying setting that is set
        (``base_url``, ``endpoint_url``, ``region_name``, ``project_id``, ``location``, …); URLs
        lose their userinfo and query string, and no credential is ever part of it.
    """
    parts = [config.type]
    for name in _IDENTITY:
        value = getattr(config, name, None)
        if isinstance(value, str) and value:
            parts.append(f"{name}={_public_url(value) if name.endswith('url') else value}")
    return " ".join(parts)


_MODEL_REJECTED = (
    ModelNotFoundError,
    PermissionDeniedError,
    InvalidRequestError,
    ContentFilteredError,
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dump_dt(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _load_dt(value: object) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 string, got {type(value).__name__}")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


@dataclass
class _ProviderCache:
    """What the registry knows about one listing (one or more configured providers)."""

    models: dict[str, ModelInfo] = field(default_factory=dict)
    fetched_at: datetime | None = None


@dataclass
class _CacheFile:
    """A parsed cache file: configured listings' entries and everyone else's, untouched."""

    providers: dict[str, _ProviderCache]
    others: dict[str, Any]


class ModelRegistry:
    """Every configured provider's models, with deprecation tracking and an optional disk cache.

    Adapters are asked for only when they are needed (to list or validate a provider's models):
    creating a registry builds nothing, and reading the cache never builds an adapter.

    Args:
        providers: The configured provider names, each with a ready adapter when a mapping is
            given and ``adapter`` is not (only the names are read up front; an adapter is looked
            up by name the first time it is needed).
        adapter: Returns the adapter of a configured provider, called the first time that
            provider is listed or validated. It may raise (for example ``ConfigurationError``
            for an unset ``${VAR}``): a refresh of every provider then skips that provider with
            one WARNING; any other use raises the error.
        cache_path: The JSON cache file, or ``None`` to keep everything in memory only.
        on_usage: Called (and awaited, if it returns an awaitable) with the response of every
            successful :meth:`validate_model` call, which is billed (the orchestrator passes its
            cost tracker's hook).
        listing_keys: Per provider name, what identifies its listing (see :func:`listing_key`);
            the cache is keyed by it, and names with one key share one listing. A name not in
            it is its own key.

    Raises:
        TypeError: ``providers`` is not a mapping and no ``adapter`` is given.

    The cache file is read lazily: by :meth:`load`, or by the first method that needs it. Async
    callers should ``await load()`` first so that the read happens in a worker thread; the
    synchronous readers fall back to reading it in the calling thread.
    """

    def __init__(
        self,
        providers: Mapping[str, BaseLLMProvider] | Iterable[str],
        *,
        adapter: Callable[[str], BaseLLMProvider] | None = None,
        cache_path: str | os.PathLike[str] | None = None,
        on_usage: Callable[[LLMResponse], Awaitable[None] | None] | None = None,
        listing_keys: Mapping[str, str] | None = None,
    ) -> None:
        if adapter is None:
            if not isinstance(providers, Mapping):
                raise TypeError("ModelRegistry: pass adapter= with provider names")
            adapter = providers.__getitem__
        # Iterating a mapping yields its keys only: no adapter is looked up here.
        self._names: tuple[str, ...] = tuple(dict.fromkeys(providers))
        self._adapter = adapter
        self._cache_path = Path(cache_path) if cache_path is not None else None
        self._on_usage = on_usage
        keys = listing_keys or {}
        self._key: dict[str, str] = {name: keys.get(name, name) for name in self._names}
        self._cache: dict[str, _ProviderCache] = {
            key: _ProviderCache() for key in self._key.values()
        }
        self._others: dict[str, Any] = {}
        self._fetched: set[str] = set()  # listing keys
        self._warned: set[tuple[str, str]] = set()
        self._unbuildable: set[str] = set()
        self._loaded = self._cache_path is None
        # Saves are snapshots numbered in the order they were taken; a worker thread writes one
        # only if no later snapshot was written, so the file always ends with the newest state.
        self._write_lock = threading.Lock()
        self._snapshots = 0
        self._written = 0

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(providers={sorted(self._names)!r}, "
            f"cache_path={self._cache_path!r})"
        )

    @property
    def cache_path(self) -> Path | None:
        """The JSON cache file, or ``None`` when the registry is memory only."""
        return self._cache_path

    # -- loading -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the cache file in a worker thread, unless it was already read.

        A missing file is an empty cache; a corrupt or unreadable one is logged at WARNING and
        ignored. Calling it again does nothing.
        """
        if self._loaded:
            return
        parsed = await anyio.to_thread.run_sync(self._read_cache)
        if not self._loaded:  # a synchronous reader may have loaded it meanwhile
            self._apply(parsed)

    def _ensure_loaded_sync(self) -> None:
        if not self._loaded:
            self._apply(self._read_cache())

    def _apply(self, parsed: _CacheFile | None) -> None:
        self._loaded = True
        if parsed is None:
            return
        self._others = parsed.others
        for key, entry in parsed.providers.items():
            self._cache[key] = entry
            self._fetched.add(key)

    def _read_cache(self) -> _CacheFile | None:
        path = self._cache_path
        assert path is not None  # only called when a cache path is set
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            logger.warning(
                "ignoring unreadable model cache %s: %s: %s", path, type(exc).__name__, exc
            )
            return None
        try:
            return self._parse_cache(json.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("ignoring corrupt model cache %s: %s: %s", path, type(exc).__name__, exc)
            return None

    def _parse_cache(self, data: Any) -> _CacheFile:
        if not isinstance(data, dict):
            raise TypeError(f"top level must be an object, got {type(data).__name__}")
        if data.get("version") == 1:  # keyed by provider name: what it says may be another's
            logger.info("replacing the model cache written by an older llmorch (version 1)")
            return _CacheFile(providers={}, others={})
        if data.get("version") != CACHE_VERSION:
            raise ValueError(f"unsupported version {data.get('version')!r}")
        providers = data["providers"]
        if not isinstance(providers, dict):
            raise TypeError("'providers' must be an object")
        parsed: dict[str, _ProviderCache] = {}
        others: dict[str, Any] = {}
        owner = {key: name for name, key in reversed(self._key.items())}
        for key, entry in providers.items():
            if key not in self._cache:
                others[key] = entry
                continue
            name = owner[key]
            fetched_at = entry.get("fetched_at")
            models: dict[str, ModelInfo] = {}
            for model_id, info in entry["models"].items():
                raw = info.get("raw", {})
                if not isinstance(raw, dict):
                    raise TypeError(f"raw of {key}/{model_id} must be an object")
                last_validated = info.get("last_validated")
                models[model_id] = ModelInfo(
                    name=model_id,
                    provider=name,
                    deprecated=bool(info.get("deprecated", False)),
                    first_seen=_load_dt(info["first_seen"]),
                    last_seen=_load_dt(info["last_seen"]),
                    last_validated=None if last_validated is None else _load_dt(last_validated),
                    raw=raw,
                )
            parsed[key] = _ProviderCache(
                models=models,
                fetched_at=None if fetched_at is None else _load_dt(fetched_at),
            )
        return _CacheFile(providers=parsed, others=others)

    # -- saving --------------------------------------------------------------------------------

    def _serialize(self) -> str:
        providers: dict[str, Any] = dict(self._others)
        for key, entry in self._cache.items():
            if key not in self._fetched:
                continue
            providers[key] = {
                "fetched_at": None if entry.fetched_at is None else _dump_dt(entry.fetched_at),
                "models": {
                    model_id: {
                        "deprecated": info.deprecated,
                        "first_seen": _dump_dt(info.first_seen),
                        "last_seen": _dump_dt(info.last_seen),
                        "last_validated": (
                            None if info.last_validated is None else _dump_dt(info.last_validated)
                        ),
                        "raw": info.raw,
                    }
                    for model_id, info in sorted(entry.models.items())
                },
            }
        document = {"version": CACHE_VERSION, "providers": dict(sorted(providers.items()))}
        return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def _save(self) -> None:
        path = self._cache_path
        if path is None:
            return
        self._snapshots += 1
        number = self._snapshots
        text = self._serialize()  # snapshot on the event loop, write in a worker thread
        try:
            await anyio.to_thread.run_sync(self._write_newest, path, text, number)
        except OSError as exc:
            logger.warning("could not write model cache %s: %s: %s", path, type(exc).__name__, exc)

    def _write_newest(self, path: Path, text: str, number: int) -> None:
        """Write snapshot ``number`` unless a later one was already written (worker thread)."""
        with self._write_lock:
            if number <= self._written:
                return
            self._write_atomic(path, text)
            self._written = number

    # -- refreshing ----------------------------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if name not in self._key:
            configured = ", ".join(sorted(self._names)) or "(none)"
            raise ConfigurationError(
                f"unknown provider {name!r}; configured providers: {configured}"
            )

    def _provider(self, name: str) -> BaseLLMProvider:
        self._check_name(name)
        return self._adapter(name)

    async def refresh_models(
        self, provider_name: str | None = None, *, older_than: float | None = None
    ) -> None:
        """Ask providers for their models and merge the listings into the cache.

        A listed model gets ``last_seen = now`` and the adapter's ``deprecated`` and ``raw``;
        ``first_seen`` is kept when the model was known. A known model missing from the new
        listing is kept and marked deprecated. The cache file is written after the refresh.

        Args:
            provider_name: Refresh only this provider; ``None`` refreshes every provider
                concurrently (each listing once, however many names share it), logging (at
                WARNING) and skipping those whose listing fails, and those whose adapter cannot
                be built (one WARNING per provider, e.g. for an unset ``${VAR}``: such a
                provider is listed when it is first asked for). The cache file is then written
                once.
            older_than: Only with every provider: list only those whose cached listing is
                older than this many seconds, or missing (what start-up does with
                ``model_discovery.max_age``); ``None`` lists them all.

        Raises:
            ConfigurationError: ``provider_name`` is not configured, or its adapter cannot be
                built (only with ``provider_name``).
            ProviderError: The named provider's listing failed (only with ``provider_name``).
        """
        if provider_name is not None:
            provider = self._provider(provider_name)
            await self.load()
            listing = await provider.get_available_models()
            self._merge(provider_name, listing)
            await self._save()
            return

        await self.load()
        succeeded: list[str] = []
        names: dict[str, str] = {}  # one name per listing key
        for name in self._names:
            if older_than is not None and self.is_fresh(name, older_than):
                continue
            key = self._key[name]
            if key not in names or names[key] in self._unbuildable:
                names[key] = name

        async def refresh_one(name: str) -> None:
            try:
                provider = self._adapter(name)
            except Exception as exc:
                self._skip_unbuildable(name, exc)
                return
            try:
                listing = await provider.get_available_models()
            except Exception as exc:
                logger.warning(
                    "model discovery failed for provider %r: %s: %s", name, type(exc).__name__, exc
                )
                return
            self._merge(name, listing)
            succeeded.append(name)

        async with anyio.create_task_group() as tg:
            for name in names.values():
                tg.start_soon(refresh_one, name)
        if succeeded:
            await self._save()

    def _skip_unbuildable(self, name: str, exc: Exception) -> None:
        level = logging.DEBUG if name in self._unbuildable else logging.WARNING
        self._unbuildable.add(name)
        logger.log(
            level,
            "provider %r cannot be set up, so its models are not listed now "
            "(they are when it is first asked for): %s: %s",
            name,
            type(exc).__name__,
            exc,
        )

    def _merge(self, provider_name: str, listing: list[ModelInfo]) -> None:
        now = _utcnow()
        key = self._key[provider_name]
        entry = self._cache[key]
        old = entry.models
        new: dict[str, ModelInfo] = {}
        for info in listing:
            known = old.get(info.name)
            new[info.name] = ModelInfo(
                name=info.name,
                provider=provider_name,
                deprecated=info.deprecated,
                first_seen=known.first_seen if known is not None else now,
                last_seen=now,
                last_validated=known.last_validated if known is not None else None,
                raw=dict(info.raw),
            )
        for model_id, info in old.items():
            if model_id in new:
                continue
            if not info.deprecated:
                logger.info(
                    "model %r of provider %r is no longer listed; marking it deprecated",
                    model_id,
                    provider_name,
                )
            new[model_id] = dataclasses.replace(info, deprecated=True)
        entry.models = new
        entry.fetched_at = now
        self._fetched.add(key)

    # -- reading the cache ---------------------------------------------------------------------

    def get_available_models(
        self, provider_name: str, include_deprecated: bool = False
    ) -> list[ModelInfo]:
        """Return a provider's models from the cache (no network call).

        Args:
            provider_name: A configured provider name.
            include_deprecated: Also return models marked deprecated.

        Returns:
            Copies of the cached entries, sorted by model name; empty if never fetched.

        Raises:
            ConfigurationError: ``provider_name`` is not configured.
        """
        self._check_name(provider_name)
        self._ensure_loaded_sync()
        models = self._cache[self._key[provider_name]].models
        return [
            dataclasses.replace(info, provider=provider_name, raw=dict(info.raw))
            for _, info in sorted(models.items())
            if include_deprecated or not info.deprecated
        ]

    def has_fetched(self, provider_name: str) -> bool:
        """Tell whether a provider's models are known.

        Args:
            provider_name: A configured provider name.

        Returns:
            True when the provider was listed successfully in this process or its entry was
            loaded from the cache file.

        Raises:
            ConfigurationError: ``provider_name`` is not configured.
        """
        self._check_name(provider_name)
        self._ensure_loaded_sync()
        return self._key[provider_name] in self._fetched

    def is_fresh(self, provider_name: str, max_age: float) -> bool:
        """Tell whether a provider's cached listing is younger than ``max_age`` (no network).

        Args:
            provider_name: A configured provider name.
            max_age: Seconds; ``math.inf`` accepts any listing that is known.

        Returns:
            True when the provider's listing is known and, unless ``max_age`` is infinite, was
            fetched less than ``max_age`` seconds ago.

        Raises:
            ConfigurationError: ``provider_name`` is not configured.
        """
        if not self.has_fetched(provider_name):
            return False
        if math.isinf(max_age):
            return True
        fetched_at = self._cache[self._key[provider_name]].fetched_at
        return fetched_at is not None and (_utcnow() - fetched_at).total_seconds() < max_age

    def is_model_deprecated(self, provider: str, model: str) -> bool:
        """Tell whether a model is known and marked deprecated.

        Args:
            provider: A configured provider name.
            model: The model id.

        Returns:
            True when the model is in the cache and deprecated; False otherwise, including for
            models the registry has never seen.

        Raises:
            ConfigurationError: ``provider`` is not configured.
        """
        self._check_name(provider)
        self._ensure_loaded_sync()
        info = self._cache[self._key[provider]].models.get(model)
        return info is not None and info.deprecated

    def warn_if_deprecated(self, provider: str, model: str) -> None:
        """Log a WARNING, once per provider and model, when the model is known deprecated.

        The request itself still goes out; this only tells the operator.

        Args:
            provider: A configured provider name.
            model: The model id about to be used.

        Raises:
            ConfigurationError: ``provider`` is not configured.
        """
        if not self.is_model_deprecated(provider, model):
            return
        key = (provider, model)
        if key in self._warned:
            return
        self._warned.add(key)
        logger.warning(
            "model %r of provider %r is deprecated (no longer listed by the provider); "
            "sending the request anyway",
            model,
            provider,
        )

    # -- validating ----------------------------------------------------------------------------

    async def validate_model(self, provider: str, model: str) -> bool:
        """Check that a model answers, with the smallest real (billed) request.

        On success the model's ``last_validated`` is set (and saved, if the model is cached) and
        ``on_usage`` is called with the response so that its cost is recorded.

        Args:
            provider: A configured provider name.
            model: The model id.

        Returns:
            True when the model answered; False when the provider says the model does not
            exist, is not allowed for this account, or rejects the request or its content.

        Raises:
            ConfigurationError: ``provider`` is not configured, or its adapter cannot be built.
            AuthenticationError: The credentials were rejected (a model check cannot tell).
            ProviderError: Any other failure, e.g. a retryable one: the answer is unknown.
        """
        adapter = self._provider(provider)
        await self.load()
        try:
            response = await adapter.send_request(ping(model))
        except _MODEL_REJECTED as exc:
            if exc.is_retryable:
                raise
            logger.info(
                "model %r of provider %r failed validation: %s: %s",
                model,
                provider,
                type(exc).__name__,
                exc,
            )
            return False
        info = self._cache[self._key[provider]].models.get(model)
        if info is not None:
            info.last_validated = _utcnow()
        if self._on_usage is not None:
            recorded = self._on_usage(response)
            if inspect.isawaitable(recorded):
                await recorded
        if info is not None:
            await self._save()
        return True
