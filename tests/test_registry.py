from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest

from llmorch import registry as registry_module
from llmorch.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
)
from llmorch.providers.base import BaseLLMProvider
from llmorch.registry import ModelRegistry
from llmorch.request import ChatRequest
from llmorch.types import LLMResponse, Message, ModelInfo, StreamEvent

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


class FakeProvider(BaseLLMProvider):
    """A provider whose listings and answers are scripted."""

    def __init__(
        self,
        name: str,
        models: list[str] | None = None,
        *,
        list_error: Exception | None = None,
        send_error: Exception | None = None,
        before_list: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(name, config=None, http=None)  # type: ignore[arg-type]
        self.models = models or []
        self.deprecated: set[str] = set()
        self.list_error = list_error
        self.send_error = send_error
        self.before_list = before_list
        self.list_calls = 0
        self.sent: list[tuple[list[Message], str, dict[str, Any]]] = []

    async def get_available_models(self) -> list[ModelInfo]:
        self.list_calls += 1
        if self.before_list is not None:
            await self.before_list()
        if self.list_error is not None:
            raise self.list_error
        return [
            ModelInfo(
                name=m,
                provider=self.name,
                deprecated=m in self.deprecated,
                raw={"id": m, "n": self.list_calls},
            )
            for m in self.models
        ]

    async def send_request(self, request: ChatRequest) -> LLMResponse:
        model = request.model
        messages = [{"role": m.role, "content": m.text} for m in request.messages]
        self.sent.append((messages, model, {"max_tokens": request.max_tokens}))
        if self.send_error is not None:
            raise self.send_error
        return LLMResponse(
            content="p",
            model=model,
            provider=self.name,
            tokens_used={"prompt": 1, "completion": 1, "total": 2},
        )

    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError


def names(models: list[ModelInfo]) -> list[str]:
    return [m.name for m in models]


def listdir(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """A controllable registry clock: set clock[0] to move time."""
    now = [T0]
    monkeypatch.setattr(registry_module, "_utcnow", lambda: now[0])
    return now


# -- refresh -----------------------------------------------------------------------------------


async def test_refresh_all_runs_providers_concurrently() -> None:
    """Refreshing all providers lists them at the same time, not one after another."""
    a_started, b_started = anyio.Event(), anyio.Event()

    async def a_waits() -> None:
        a_started.set()
        await b_started.wait()

    async def b_waits() -> None:
        b_started.set()
        await a_started.wait()

    reg = ModelRegistry(
        {
            "a": FakeProvider("a", ["a1"], before_list=a_waits),
            "b": FakeProvider("b", ["b1"], before_list=b_waits),
        }
    )
    with anyio.fail_after(1):
        await reg.refresh_models()
    assert names(reg.get_available_models("a")) == ["a1"]
    assert names(reg.get_available_models("b")) == ["b1"]


async def test_refresh_all_logs_failing_provider_and_lists_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing provider is logged at WARNING; the others are still listed; nothing raises."""
    reg = ModelRegistry(
        {
            "bad": FakeProvider("bad", list_error=ProviderUnavailableError("down", provider="bad")),
            "good": FakeProvider("good", ["g2", "g1"]),
        }
    )
    with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
        await reg.refresh_models(None)
    assert names(reg.get_available_models("good")) == ["g1", "g2"]
    assert reg.get_available_models("bad") == []
    assert reg.has_fetched("good") and not reg.has_fetched("bad")
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.name == "llmorch.registry"
    assert "'bad'" in record.getMessage()
    assert "ProviderUnavailableError: down" in record.getMessage()


async def test_refresh_all_when_every_provider_fails_writes_no_cache(tmp_path: Path) -> None:
    """No successful listing means no cache file is written."""
    cache = tmp_path / "models.json"
    reg = ModelRegistry(
        {"x": FakeProvider("x", list_error=AuthenticationError("nope"))}, cache_path=cache
    )
    await reg.refresh_models()
    assert not cache.exists()


@pytest.mark.parametrize(
    "error",
    [ProviderUnavailableError("down"), AuthenticationError("bad key"), ModelNotFoundError("gone")],
)
async def test_named_refresh_propagates_provider_error(error: ProviderError) -> None:
    """Refreshing one named provider raises its listing error unchanged."""
    reg = ModelRegistry({"p": FakeProvider("p", list_error=error)})
    with pytest.raises(type(error)) as info:
        await reg.refresh_models("p")
    assert info.value is error
    assert not reg.has_fetched("p")


async def test_named_refresh_only_touches_that_provider() -> None:
    """A named refresh lists only the named provider."""
    a, b = FakeProvider("a", ["a1"]), FakeProvider("b", ["b1"])
    reg = ModelRegistry({"a": a, "b": b})
    await reg.refresh_models("a")
    assert (a.list_calls, b.list_calls) == (1, 0)
    assert reg.has_fetched("a") and not reg.has_fetched("b")


async def test_missing_model_is_marked_deprecated_not_removed(
    clock: list[datetime], caplog: pytest.LogCaptureFixture
) -> None:
    """A model missing from a new listing stays, deprecated, and the change is logged at INFO."""
    p = FakeProvider("p", ["m1", "m2"])
    reg = ModelRegistry({"p": p})
    await reg.refresh_models("p")
    p.models = ["m1"]
    clock[0] = T0 + timedelta(hours=1)
    with caplog.at_level(logging.INFO, logger="llmorch.registry"):
        await reg.refresh_models("p")
        await reg.refresh_models("p")  # already deprecated: not logged again
    assert names(reg.get_available_models("p")) == ["m1"]
    all_models = reg.get_available_models("p", include_deprecated=True)
    assert names(all_models) == ["m1", "m2"]
    m2 = all_models[1]
    assert m2.deprecated and m2.last_seen == T0
    assert reg.is_model_deprecated("p", "m2")
    assert not reg.is_model_deprecated("p", "m1")
    infos = [r for r in caplog.records if r.levelno == logging.INFO and "m2" in r.getMessage()]
    assert len(infos) == 1


async def test_model_listed_again_is_no_longer_deprecated() -> None:
    """A deprecated model that reappears in a listing is current again."""
    p = FakeProvider("p", ["m1"])
    reg = ModelRegistry({"p": p})
    await reg.refresh_models("p")
    p.models = []
    await reg.refresh_models("p")
    assert reg.is_model_deprecated("p", "m1")
    p.models = ["m1"]
    await reg.refresh_models("p")
    assert not reg.is_model_deprecated("p", "m1")


async def test_adapter_deprecation_flag_is_kept() -> None:
    """A model the vendor itself reports as deprecated stays deprecated while listed."""
    p = FakeProvider("p", ["old", "new"])
    p.deprecated = {"old"}
    reg = ModelRegistry({"p": p})
    await reg.refresh_models("p")
    assert reg.is_model_deprecated("p", "old")
    assert names(reg.get_available_models("p")) == ["new"]


async def test_first_seen_kept_last_seen_and_raw_updated(clock: list[datetime]) -> None:
    """Re-listing keeps first_seen and moves last_seen; raw is replaced by the new entry."""
    p = FakeProvider("p", ["m"])
    reg = ModelRegistry({"p": p})
    await reg.refresh_models("p")
    clock[0] = T0 + timedelta(days=2)
    await reg.refresh_models("p")
    [m] = reg.get_available_models("p")
    assert (m.first_seen, m.last_seen) == (T0, T0 + timedelta(days=2))
    assert m.raw == {"id": "m", "n": 2}
    assert m.provider == "p"


async def test_returned_models_are_copies() -> None:
    """Mutating a returned ModelInfo does not change the cache."""
    reg = ModelRegistry({"p": FakeProvider("p", ["m"])})
    await reg.refresh_models("p")
    [m] = reg.get_available_models("p")
    m.deprecated = True
    m.raw["id"] = "changed"
    [again] = reg.get_available_models("p")
    assert not again.deprecated and again.raw["id"] == "m"


# -- unknown providers -------------------------------------------------------------------------


async def test_unknown_provider_raises_configuration_error() -> None:
    """Every per-provider method names the configured providers for an unknown name."""
    reg = ModelRegistry({"b": FakeProvider("b"), "a": FakeProvider("a")})
    calls: list[Callable[[], object]] = [
        lambda: reg.get_available_models("zz"),
        lambda: reg.has_fetched("zz"),
        lambda: reg.is_model_deprecated("zz", "m"),
        lambda: reg.warn_if_deprecated("zz", "m"),
    ]
    for call in calls:
        with pytest.raises(ConfigurationError, match=r"'zz'.*a, b"):
            call()
    with pytest.raises(ConfigurationError, match="'zz'"):
        await reg.refresh_models("zz")
    with pytest.raises(ConfigurationError, match="'zz'"):
        await reg.validate_model("zz", "m")


async def test_no_providers_configured_message() -> None:
    """With no providers the error says so."""
    reg = ModelRegistry({})
    await reg.refresh_models()
    with pytest.raises(ConfigurationError, match=r"\(none\)"):
        reg.get_available_models("x")


async def test_unknown_model_is_not_deprecated() -> None:
    """A model the registry has never seen is not reported deprecated."""
    reg = ModelRegistry({"p": FakeProvider("p")})
    assert reg.is_model_deprecated("p", "nope") is False
    assert reg.get_available_models("p") == []


# -- on-disk cache -----------------------------------------------------------------------------


async def test_cache_written_in_documented_format(tmp_path: Path, clock: list[datetime]) -> None:
    """A refresh writes version 2 JSON with UTC ISO datetimes, creating parent directories."""
    cache = tmp_path / "deep" / "dir" / "models.json"
    reg = ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache)
    await reg.refresh_models()
    data = json.loads(cache.read_text(encoding="utf-8"))
    assert data == {
        "version": 2,
        "providers": {
            "p": {
                "fetched_at": "2024-01-01T00:00:00+00:00",
                "models": {
                    "m": {
                        "deprecated": False,
                        "first_seen": "2024-01-01T00:00:00+00:00",
                        "last_seen": "2024-01-01T00:00:00+00:00",
                        "last_validated": None,
                        "raw": {"id": "m", "n": 1},
                    }
                },
            }
        },
    }
    assert reg.cache_path == cache
    assert "models.json" in repr(reg)


async def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    """Repeated writes replace the file and leave no temporary files behind."""
    cache = tmp_path / "models.json"
    p = FakeProvider("p", ["m1", "m2"])
    reg = ModelRegistry({"p": p}, cache_path=cache)
    await reg.refresh_models("p")
    p.models = ["m1"]
    await reg.refresh_models("p")
    assert listdir(tmp_path) == ["models.json"]


async def test_failed_write_is_logged_and_temp_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """If replacing the file fails, the refresh still succeeds, with a WARNING and no temp file."""
    cache = tmp_path / "models.json"

    def broken_replace(src: str, dst: str) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", broken_replace)
    reg = ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache)
    with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
        await reg.refresh_models("p")
    assert names(reg.get_available_models("p")) == ["m"]
    assert listdir(tmp_path) == []
    assert "PermissionError: read-only" in caplog.text


async def test_memory_only_registry_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With cache_path=None nothing is written anywhere."""
    monkeypatch.chdir(tmp_path)
    reg = ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=None)
    await reg.load()
    await reg.refresh_models()
    assert await reg.validate_model("p", "m")
    assert reg.cache_path is None
    assert listdir(tmp_path) == []


async def test_deprecation_detected_across_restarts(tmp_path: Path) -> None:
    """A new registry over the same cache marks a model deprecated when it is no longer listed."""
    cache = tmp_path / "models.json"
    first = ModelRegistry({"p": FakeProvider("p", ["m1", "m2"])}, cache_path=cache)
    await first.refresh_models()

    second = ModelRegistry({"p": FakeProvider("p", ["m1"])}, cache_path=cache)
    assert second.has_fetched("p")  # loaded from disk
    await second.refresh_models()
    assert second.is_model_deprecated("p", "m2")
    assert names(second.get_available_models("p")) == ["m1"]

    third = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    await third.load()
    assert third.is_model_deprecated("p", "m2")
    assert not third.is_model_deprecated("p", "m1")


async def test_first_seen_survives_restart(tmp_path: Path, clock: list[datetime]) -> None:
    """first_seen comes from the cache file after a restart."""
    cache = tmp_path / "models.json"
    await ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache).refresh_models("p")
    clock[0] = T0 + timedelta(days=30)
    reg = ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache)
    await reg.refresh_models("p")
    [m] = reg.get_available_models("p")
    assert m.first_seen == T0 and m.last_seen == clock[0]


async def test_unconfigured_providers_are_preserved_but_hidden(tmp_path: Path) -> None:
    """Cache entries of providers not configured now are kept in the file but not exposed."""
    cache = tmp_path / "models.json"
    await ModelRegistry(
        {"p": FakeProvider("p", ["m"]), "q": FakeProvider("q", ["qm"])}, cache_path=cache
    ).refresh_models()
    reg = ModelRegistry({"p": FakeProvider("p", ["m2"])}, cache_path=cache)
    await reg.refresh_models()
    with pytest.raises(ConfigurationError):
        reg.get_available_models("q")
    data = json.loads(cache.read_text(encoding="utf-8"))
    assert set(data["providers"]) == {"p", "q"}
    assert set(data["providers"]["q"]["models"]) == {"qm"}
    assert set(data["providers"]["p"]["models"]) == {"m", "m2"}


async def test_cache_is_loaded_lazily_by_sync_readers(tmp_path: Path) -> None:
    """A sync reader loads the cache on first use; later loads do not re-read it."""
    cache = tmp_path / "models.json"
    await ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache).refresh_models()
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    assert names(reg.get_available_models("p")) == ["m"]
    cache.unlink()
    await reg.load()  # already loaded: no-op
    assert reg.has_fetched("p")


async def test_missing_cache_file_is_an_empty_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache file that does not exist yet is silently treated as empty."""
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=tmp_path / "none.json")
    with caplog.at_level(logging.DEBUG, logger="llmorch.registry"):
        await reg.load()
    assert not reg.has_fetched("p")
    assert caplog.records == []


def _valid_doc(**model_overrides: Any) -> dict[str, Any]:
    model = {
        "deprecated": False,
        "first_seen": "2024-01-01T00:00:00Z",
        "last_seen": "2024-01-02T00:00:00",
        "last_validated": "2024-01-03T02:00:00+02:00",
        "raw": {"id": "m"},
    }
    model.update(model_overrides)
    return {"version": 2, "providers": {"p": {"fetched_at": None, "models": {"m": model}}}}


async def test_cache_datetimes_normalised_to_utc(tmp_path: Path) -> None:
    """Z suffixes, naive and offset datetimes in the file are all read as UTC."""
    cache = tmp_path / "models.json"
    cache.write_text(json.dumps(_valid_doc()), encoding="utf-8")
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    await reg.load()
    [m] = reg.get_available_models("p")
    assert m.first_seen == T0
    assert m.last_seen == datetime(2024, 1, 2, tzinfo=timezone.utc)
    assert m.last_validated == datetime(2024, 1, 3, tzinfo=timezone.utc)
    assert m.last_validated.tzinfo is timezone.utc


async def test_minimal_cache_entry_defaults(tmp_path: Path) -> None:
    """Optional fields may be absent from a cache entry."""
    cache = tmp_path / "models.json"
    doc = {
        "version": 2,
        "providers": {
            "p": {
                "fetched_at": "2024-01-01T00:00:00+00:00",
                "models": {"m": {"first_seen": "2024-01-01", "last_seen": "2024-01-01"}},
            }
        },
    }
    cache.write_text(json.dumps(doc), encoding="utf-8")
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    [m] = reg.get_available_models("p")
    assert (m.deprecated, m.last_validated, m.raw) == (False, None, {})


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"version": 3, "providers": {}}),
        json.dumps({"version": 2, "providers": []}),
        json.dumps({"version": 2}),
        json.dumps({"version": 2, "providers": {"p": {"models": {"m": {}}}}}),
        json.dumps({"version": 2, "providers": {"p": []}}),
        json.dumps(_valid_doc(first_seen=5)),
        json.dumps(_valid_doc(last_seen="yesterday")),
        json.dumps(_valid_doc(raw=[1])),
    ],
    ids=[
        "not-json",
        "array",
        "version",
        "providers-list",
        "no-providers",
        "no-dates",
        "entry-list",
        "date-type",
        "date-format",
        "raw-type",
    ],
)
async def test_corrupt_cache_is_ignored_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    """A corrupt cache file is logged at WARNING and ignored; refresh then rewrites it."""
    cache = tmp_path / "models.json"
    cache.write_text(content, encoding="utf-8")
    reg = ModelRegistry({"p": FakeProvider("p", ["fresh"])}, cache_path=cache)
    with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
        await reg.refresh_models()
    assert "corrupt model cache" in caplog.text
    assert names(reg.get_available_models("p", include_deprecated=True)) == ["fresh"]
    assert set(json.loads(cache.read_text(encoding="utf-8"))["providers"]["p"]["models"]) == {
        "fresh"
    }


async def test_unreadable_cache_is_ignored_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache path that cannot be read (here: a directory, or bad UTF-8) is only a WARNING."""
    as_dir = tmp_path / "dir.json"
    as_dir.mkdir()
    bad_utf8 = tmp_path / "bad.json"
    bad_utf8.write_bytes(b"\xff\xfe\x00")
    with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
        for path in (as_dir, bad_utf8):
            reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=path)
            assert not reg.has_fetched("p")
    assert caplog.text.count("unreadable model cache") == 2


async def test_cache_never_holds_more_than_raw(tmp_path: Path) -> None:
    """The cache stores the adapter's raw entry and timestamps, nothing from the provider object."""
    cache = tmp_path / "models.json"
    p = FakeProvider("p", ["m"])
    p.config = {"api_key": "sk-secret"}  # type: ignore[assignment]
    await ModelRegistry({"p": p}, cache_path=cache).refresh_models()
    text = cache.read_text(encoding="utf-8")
    assert "sk-secret" not in text
    entry = json.loads(text)["providers"]["p"]["models"]["m"]
    assert set(entry) == {"deprecated", "first_seen", "last_seen", "last_validated", "raw"}


async def test_concurrent_load_and_sync_read(tmp_path: Path) -> None:
    """If a sync reader loads the cache while load() is reading it, the result is applied once."""
    cache = tmp_path / "models.json"
    await ModelRegistry({"p": FakeProvider("p", ["m"])}, cache_path=cache).refresh_models()
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    original = reg._read_cache

    def read_then_race() -> Any:
        parsed = original()
        reg._apply(original())  # simulates a sync reader winning the race
        reg._cache["p"].models.clear()
        return parsed

    reg._read_cache = read_then_race  # type: ignore[method-assign]
    await reg.load()
    assert reg.get_available_models("p") == []  # the late thread result was discarded


# -- validate_model ----------------------------------------------------------------------------


async def test_validate_model_success_records_usage_and_last_validated(
    tmp_path: Path, clock: list[datetime]
) -> None:
    """Success sends one minimal request, calls on_usage once and saves last_validated."""
    cache = tmp_path / "models.json"
    usage: list[LLMResponse] = []
    p = FakeProvider("p", ["m"])
    reg = ModelRegistry({"p": p}, cache_path=cache, on_usage=usage.append)
    await reg.refresh_models("p")
    clock[0] = T0 + timedelta(minutes=5)
    assert await reg.validate_model("p", "m") is True
    assert p.sent == [([{"role": "user", "content": "ping"}], "m", {"max_tokens": 1})]
    assert len(usage) == 1 and usage[0].model == "m"
    [m] = reg.get_available_models("p")
    assert m.last_validated == clock[0]
    saved = json.loads(cache.read_text(encoding="utf-8"))
    assert saved["providers"]["p"]["models"]["m"]["last_validated"] == clock[0].isoformat()
    await reg.refresh_models("p")  # last_validated survives a re-listing
    assert reg.get_available_models("p")[0].last_validated == clock[0]


async def test_validate_unlisted_model_without_on_usage(tmp_path: Path) -> None:
    """Validating a model not in the cache works without on_usage and writes no cache."""
    cache = tmp_path / "models.json"
    reg = ModelRegistry({"p": FakeProvider("p")}, cache_path=cache)
    assert await reg.validate_model("p", "unlisted") is True
    assert reg.get_available_models("p", include_deprecated=True) == []
    assert not cache.exists()


@pytest.mark.parametrize(
    "error",
    [
        ModelNotFoundError("no such model"),
        PermissionDeniedError("forbidden"),
        InvalidRequestError("bad"),
        ContextLengthExceededError("too long"),
        ContentFilteredError("blocked"),
    ],
)
async def test_validate_model_false_when_model_rejected(error: ProviderError) -> None:
    """Errors that say the model cannot be used make validation return False, with no usage."""
    usage: list[LLMResponse] = []
    reg = ModelRegistry({"p": FakeProvider("p", send_error=error)}, on_usage=usage.append)
    assert await reg.validate_model("p", "m") is False
    assert usage == []


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("bad key"),
        ProviderUnavailableError("down"),
        RateLimitError("slow down"),
        RateLimitError("insufficient_quota", is_retryable=False),
        ModelNotFoundError("flaky", is_retryable=True),
    ],
)
async def test_validate_model_propagates_auth_and_unknown_outcomes(error: ProviderError) -> None:
    """Authentication, retryable and other errors that leave the answer unknown propagate."""
    usage: list[LLMResponse] = []
    reg = ModelRegistry({"p": FakeProvider("p", send_error=error)}, on_usage=usage.append)
    with pytest.raises(type(error)) as info:
        await reg.validate_model("p", "m")
    assert info.value is error
    assert usage == []


# -- warn_if_deprecated ------------------------------------------------------------------------


async def test_warn_if_deprecated_logs_once_per_model(caplog: pytest.LogCaptureFixture) -> None:
    """A deprecated model is warned about once; current and unknown models not at all."""
    p = FakeProvider("p", ["old", "new"])
    reg = ModelRegistry({"p": p})
    await reg.refresh_models()
    p.models = ["new"]
    await reg.refresh_models()
    with caplog.at_level(logging.WARNING, logger="llmorch.registry"):
        for _ in range(3):
            reg.warn_if_deprecated("p", "old")
        reg.warn_if_deprecated("p", "new")
        reg.warn_if_deprecated("p", "unknown")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'old'" in warnings[0].getMessage() and "'p'" in warnings[0].getMessage()


async def test_null_fetched_at_and_naive_times_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Null fetched_at is kept, naive clock times are saved as UTC, unfetched providers omitted."""
    cache = tmp_path / "models.json"
    cache.write_text(json.dumps(_valid_doc()), encoding="utf-8")
    monkeypatch.setattr(registry_module, "_utcnow", lambda: datetime(2024, 5, 1))
    providers = {"p": FakeProvider("p"), "q": FakeProvider("q", ["qm"]), "r": FakeProvider("r")}
    reg = ModelRegistry(providers, cache_path=cache)
    await reg.refresh_models("q")
    data = json.loads(cache.read_text(encoding="utf-8"))["providers"]
    assert set(data) == {"p", "q"}
    assert data["p"]["fetched_at"] is None
    assert data["q"]["fetched_at"] == "2024-05-01T00:00:00+00:00"


# -- adapters on first use (review 1) ----------------------------------------------------------


class LazyAdapters(Mapping[str, BaseLLMProvider]):
    """A mapping that builds its values on first access (as 4a56482's orchestrator passed)."""

    def __init__(self, providers: dict[str, BaseLLMProvider | Exception]) -> None:
        self.providers = providers
        self.built: list[str] = []

    def __getitem__(self, name: str) -> BaseLLMProvider:
        self.built.append(name)
        value = self.providers[name]
        if isinstance(value, Exception):
            raise value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)


async def test_review_1_registry_builds_no_adapter_until_one_is_listed(tmp_path: Path) -> None:
    """Creating the registry and reading its cache build nothing; a listing builds only its own."""
    cache = tmp_path / "models.json"
    await ModelRegistry({"a": FakeProvider("a", ["a1"])}, cache_path=cache).refresh_models()
    adapters = LazyAdapters({"a": FakeProvider("a", ["a1"]), "b": FakeProvider("b", ["b1"])})
    reg = ModelRegistry(adapters, cache_path=cache)
    assert names(reg.get_available_models("a")) == ["a1"]
    assert reg.has_fetched("a") and not reg.has_fetched("b")
    assert not reg.is_model_deprecated("b", "b1")
    reg.warn_if_deprecated("b", "b1")
    assert "['a', 'b']" in repr(reg)
    assert adapters.built == []
    await reg.refresh_models("b")
    assert adapters.built == ["b"]


async def test_review_1_registry_takes_names_and_an_adapter_function() -> None:
    """With names and ``adapter=``, the function is called once a provider is first needed."""
    built: list[str] = []
    providers = {"a": FakeProvider("a", ["a1"]), "b": FakeProvider("b", ["b1"])}

    def adapter(name: str) -> BaseLLMProvider:
        built.append(name)
        return providers[name]

    reg = ModelRegistry(["a", "b", "a"], adapter=adapter)
    assert "['a', 'b']" in repr(reg)
    assert reg.get_available_models("b") == [] and built == []
    assert await reg.validate_model("a", "a1")
    assert built == ["a"]
    with pytest.raises(ConfigurationError, match="unknown provider 'c'"):
        await reg.refresh_models("c")
    with pytest.raises(TypeError, match="adapter="):
        ModelRegistry(["a"])


async def test_review_1_refresh_all_skips_an_unbuildable_provider_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider whose adapter cannot be built is skipped with one WARNING; the rest are listed.

    It still fails, with its own error, when it is used by name.
    """
    unset = ConfigurationError("providers.b.api_key: environment variable B_KEY is not set")
    cache = tmp_path / "models.json"
    reg = ModelRegistry(
        LazyAdapters({"a": FakeProvider("a", ["a1"]), "b": unset}), cache_path=cache
    )
    with caplog.at_level(logging.DEBUG, logger="llmorch.registry"):
        await reg.refresh_models()
        await reg.refresh_models()
    assert names(reg.get_available_models("a")) == ["a1"]
    assert not reg.has_fetched("b")
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "'b'" in warning.getMessage() and "B_KEY is not set" in warning.getMessage()
    assert set(json.loads(cache.read_text(encoding="utf-8"))["providers"]) == {"a"}
    with pytest.raises(ConfigurationError, match="B_KEY"):
        await reg.refresh_models("b")
    with pytest.raises(ConfigurationError, match="B_KEY"):
        await reg.validate_model("b", "m")


# -- concurrent saves (review 12) --------------------------------------------------------------


async def test_review_12_concurrent_saves_leave_the_newest_snapshot_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two refreshes save at once and the smaller snapshot's write is slow: the file has both.

    The slow write of the first snapshot waits (bounded) until the second was written, the
    interleaving that made the last writer, with fewer providers, win on 4a56482.
    """
    cache = tmp_path / "models.json"
    small_started, big_written = threading.Event(), threading.Event()
    original = ModelRegistry._write_atomic

    def slow_for_the_small_snapshot(path: Path, text: str) -> None:
        if len(json.loads(text)["providers"]) == 1:
            small_started.set()
            big_written.wait(0.3)
        original(path, text)
        if len(json.loads(text)["providers"]) == 2:
            big_written.set()

    monkeypatch.setattr(ModelRegistry, "_write_atomic", staticmethod(slow_for_the_small_snapshot))

    async def after_the_small_snapshot_is_being_written() -> None:
        await anyio.to_thread.run_sync(small_started.wait, 1.0)

    reg = ModelRegistry(
        {
            "a": FakeProvider("a", ["a1"]),
            "b": FakeProvider("b", ["b1"], before_list=after_the_small_snapshot_is_being_written),
        },
        cache_path=cache,
    )
    await reg.load()
    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reg.refresh_models, "a")
            tg.start_soon(reg.refresh_models, "b")
    assert small_started.is_set()
    on_disk = json.loads(cache.read_text(encoding="utf-8"))["providers"]
    assert sorted(on_disk) == ["a", "b"]


def test_review_12_an_older_snapshot_never_replaces_a_newer_one(tmp_path: Path) -> None:
    """Whatever order the worker threads run in, a snapshot taken earlier is not written later."""
    cache = tmp_path / "models.json"
    reg = ModelRegistry(["p"], adapter=lambda name: FakeProvider(name), cache_path=cache)
    reg._write_newest(cache, "second\n", 2)
    reg._write_newest(cache, "first\n", 1)
    assert cache.read_text(encoding="utf-8") == "second\n"


async def test_review_12_start_up_discovery_writes_every_provider_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up discovery of three providers, smaller snapshots written slowly: none is lost."""
    from llmorch import AsyncLLMOrchestrator, OrchestratorConfig

    cache = tmp_path / "models.json"
    original = ModelRegistry._write_atomic
    writes: list[int] = []

    def slow_unless_complete(path: Path, text: str) -> None:
        count = len(json.loads(text)["providers"])
        writes.append(count)
        if count < 3:
            time.sleep(0.2)  # the slow disk or busy thread pool of the review's reproduction
        original(path, text)

    monkeypatch.setattr(ModelRegistry, "_write_atomic", staticmethod(slow_unless_complete))
    echo = "tests.custom_provider:EchoProvider"
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "p1",
            "active_model": "echo-1",
            "providers": {
                name: {"type": echo, "base_url": f"http://{name}.test"}
                for name in ("p1", "p2", "p3")
            },
            "cost_tracking": {"enabled": False},
            "model_discovery": {"refresh_on_start": True, "cache_path": str(cache)},
        }
    )
    async with AsyncLLMOrchestrator(config) as orch:
        in_memory = sorted(n for n in config.providers if orch.registry.has_fetched(n))
    assert in_memory == ["p1", "p2", "p3"]
    assert len(json.loads(cache.read_text(encoding="utf-8"))["providers"]) == len(in_memory)
    assert writes == [3]
