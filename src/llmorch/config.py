"""Configuration: pydantic models for ``config.yaml``, ``${ENV}`` resolution, ``ConfigManager``.

A configuration names the providers a program may use, the active provider and model, pricing
overrides, cost tracking and model discovery settings::

    active_provider: openai
    active_model: gpt-5.4-mini
    providers:
      openai:
        api_key: ${OPENAI_API_KEY}
        fallback_models: [gpt-5.6-luna]
      ollama:
        type: openai
        base_url: http://localhost:11434/v1

``${VAR}`` and ``${VAR:-default}`` are replaced in every string value before validation. A
variable that is not set only matters when its provider is used: it is reported at load time for
the active provider (and for anything outside ``providers:``), otherwise by
:meth:`OrchestratorConfig.require_provider`. Every problem is reported as a
:class:`~llmorch.exceptions.ConfigurationError` naming the file, the key path and what is wrong;
secret values never appear in messages, ``repr()`` or :meth:`OrchestratorConfig.masked`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmorch import pricing as _pricing
from llmorch.exceptions import ConfigurationError
from llmorch.ledger.urls import parse_ledger_url, redact_url

if TYPE_CHECKING:
    import yaml

__all__ = [
    "AnthropicConfig",
    "BedrockConfig",
    "ConfigManager",
    "CostTrackingConfig",
    "CustomProviderConfig",
    "GeminiConfig",
    "ModelDiscoveryConfig",
    "ModelPrice",
    "ObservabilityConfig",
    "OpenAIConfig",
    "OrchestratorConfig",
    "ProviderConfig",
    "VertexConfig",
]

_MASK = "**********"
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CLASS_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SECRET_NAME = re.compile(
    r"auth|key|token|secret|passw|credential|cookie|signature|session", re.IGNORECASE
)
_BUILTIN_TYPES = ("anthropic", "bedrock", "gemini", "openai", "vertex")
# ``scheme://userinfo@`` at the start of a value; the userinfo runs to the authority's last "@"
# (RFC 3986: the authority ends at the first "/", "?" or "#"). Plain text so that no URL parser's
# idea of a valid host (a malformed IPv6 literal raises in urlsplit) can hide a password.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")

_NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _prefix(source: str | None) -> str:
    return f"{source}: " if source else ""


def _mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (_MASK if _SECRET_NAME.search(k) else _mask_url(v)) for k, v in headers.items()}


def _userinfo(value: str) -> str | None:
    """The userinfo of an absolute URL (``user:pw`` in ``https://user:pw@host``), if any."""
    match = _URL_USERINFO.match(value)
    return match["userinfo"] if match else None


def _mask_url(value: str) -> str:
    """``value`` with the whole userinfo of a URL masked: ``https://**********@host/v1``.

    The user part is masked too: it can be the credential itself (``https://TOKEN@host``).
    """
    return _URL_USERINFO.sub(lambda match: f"{match['scheme']}{_MASK}@", value, count=1)


def _mask_value(value: Any) -> Any:
    """Mask URL userinfo in a value of any JSON-like shape."""
    if isinstance(value, str):
        return _mask_url(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    return value


def _url_secrets(value: str) -> list[str]:
    """The credentials in a URL's userinfo: all of it, the password, a lone user; decoded too."""
    userinfo = _userinfo(value)
    if not userinfo:
        return []
    user, colon, password = userinfo.partition(":")
    found = [userinfo, password if colon else user]
    return [text for item in found for text in (item, unquote(item))]


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a value of any JSON-like shape."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # The value itself is not echoed: a URL may carry credentials.
        raise ValueError("must be an http:// or https:// URL")
    if parts.query or value.endswith("?"):
        # Paths are appended after the root, so a query string would end up inside the path.
        raise ValueError(
            "must not have a query string (llmorch appends paths to it); for Azure OpenAI use "
            "the https://RESOURCE.openai.azure.com/openai/v1 form, with the key in "
            "headers: {api-key: ...}"
        )
    return value.rstrip("/")


# --------------------------------------------------------------------------- providers


class ProviderConfig(BaseModel):
    """Settings common to every provider entry under ``providers:``.

    Attributes:
        type: The provider type; defaults to the entry's name (``openai``, ``anthropic``,
            ``gemini``, ``vertex``, ``bedrock`` or ``"package.module:ClassName"``).
        api_key: The API key, kept as a ``SecretStr``; an empty value means none.
        base_url: The API root the way the vendor's SDK takes it; ``None`` = the vendor's.
        fallback_models: Models tried in order after the requested one fails.
        timeout: Seconds for connect, read, write and pool waits (> 0).
        max_retries: Retries per model for retryable errors (>= 0).
        max_backoff_s: Upper bound for one backoff wait, in seconds (> 0).
        headers: Extra HTTP headers sent with every request.
        cooldown_s: Seconds to skip a model after it failed; 0 turns this off.
        unsupported: What to do with a parameter the model does not take (SPEC §2.10):
            ``warn`` (remove it, list it in ``response.warnings``, log once), ``drop`` (remove
            and list it, no log) or ``error`` (raise ``InvalidRequestError`` before any call).
    """

    model_config = ConfigDict(extra="forbid", frozen=False, defer_build=True)

    type: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    fallback_models: list[_NonEmptyStr] = Field(default_factory=list)
    timeout: float = Field(default=60, gt=0)
    max_retries: int = Field(default=2, ge=0)
    max_backoff_s: float = Field(default=30, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    cooldown_s: float = Field(default=0, ge=0)
    unsupported: Literal["warn", "error", "drop"] = "warn"

    _unresolved: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_means_default(cls, value: Any, info: ValidationInfo) -> Any:
        """Treat ``key:`` (null) as the default collection and ``""`` as an unset option."""
        field = cls.model_fields[str(info.field_name)]
        if value is None and field.default_factory is not None:
            return field.get_default(call_default_factory=True)
        if value == "" and field.default is None:
            return None
        return value

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str | None) -> str | None:
        return _check_url(value)

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "headers":
                yield key, _mask_headers(value)
            elif key in (self.model_extra or {}) and _SECRET_NAME.search(str(key)):
                yield key, _MASK
            else:
                yield key, _mask_value(value)

    def secrets(self) -> list[str]:
        """Every secret value in this provider's settings, for scrubbing what vendors echo.

        That is: each ``SecretStr`` setting (``api_key``, the AWS keys and session token), the
        values of secret-looking headers and of secret-looking extra keys of a custom type, and
        the userinfo of every URL setting (``base_url``, ``endpoint_url``, …): the whole of it,
        its password (or its user, when there is no password), each also percent-decoded.

        Returns:
            The distinct non-empty secrets, longest first (so that a scrubber replacing them in
            this order never leaves the tail of a longer one behind).
        """
        found: list[str] = []
        extra = self.model_extra or {}
        for key, value in self:
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
                continue
            if key == "headers":
                found.extend(v for k, v in value.items() if _SECRET_NAME.search(k))
            elif key in extra and _SECRET_NAME.search(key):
                found.extend(_strings(value))
            for text in _strings(value):
                found.extend(_url_secrets(text))
        return sorted({text for text in found if text}, key=lambda text: (-len(text), text))


class OpenAIConfig(ProviderConfig):
    """OpenAI, or any OpenAI-compatible server (``type: openai`` with a ``base_url``).

    Attributes:
        organization: Sent as ``OpenAI-Organization``.
        project: Sent as ``OpenAI-Project``.
    """

    type: Literal["openai"] = "openai"
    organization: str | None = None
    project: str | None = None


class AnthropicConfig(ProviderConfig):
    """Anthropic's Messages API."""

    type: Literal["anthropic"] = "anthropic"


class GeminiConfig(ProviderConfig):
    """Google's Gemini API (``generativelanguage.googleapis.com``).

    Attributes:
        safety_settings: Passed through as the request's ``safetySettings``.
    """

    type: Literal["gemini"] = "gemini"
    safety_settings: list[dict[str, str]] | None = None


class VertexConfig(ProviderConfig):
    """Gemini models on Google Cloud Vertex AI.

    Attributes:
        project_id: The Google Cloud project; ``None`` = the one Application Default
            Credentials name.
        location: The Vertex region.
        credentials_path: A service-account JSON file; ``None`` = Application Default Credentials.
        safety_settings: Passed through as the request's ``safetySettings``.
    """

    type: Literal["vertex"] = "vertex"
    project_id: str | None = None
    location: str = "us-central1"
    credentials_path: str | None = None
    safety_settings: list[dict[str, str]] | None = None


class BedrockConfig(ProviderConfig):
    """AWS Bedrock. Credentials default to botocore's chain; ``api_key`` is a Bedrock API key.

    Attributes:
        region_name: The AWS region; ``None`` = botocore's default.
        profile_name: A profile from the AWS config files.
        aws_access_key_id: Explicit access key id.
        aws_secret_access_key: Explicit secret access key.
        aws_session_token: Explicit session token.
        endpoint_url: The runtime API root (``https://bedrock-runtime.{region}.amazonaws.com``).
        control_endpoint_url: The control-plane root, where models are listed
            (``https://bedrock.{region}.amazonaws.com``).
    """

    type: Literal["bedrock"] = "bedrock"
    base_url: str | None = Field(default=None, exclude=True, repr=False)
    region_name: str | None = None
    profile_name: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    endpoint_url: str | None = None
    control_endpoint_url: str | None = None

    @field_validator("base_url")
    @classmethod
    def _no_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("Bedrock takes endpoint_url and control_endpoint_url, not base_url")
        return None

    @field_validator("endpoint_url", "control_endpoint_url")
    @classmethod
    def _valid_endpoint(cls, value: str | None) -> str | None:
        return _check_url(value)


class CustomProviderConfig(ProviderConfig):
    """A provider class of your own, ``type: "package.module:ClassName"``; extra keys allowed."""

    model_config = ConfigDict(extra="allow")

    @field_validator("type")
    @classmethod
    def _class_path(cls, value: str) -> str:
        if not _CLASS_PATH.match(value):
            import difflib

            hint = difflib.get_close_matches(value.lower(), _BUILTIN_TYPES, n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ValueError(
                f"unknown provider type {value!r}{did_you_mean}; expected one of "
                f"{', '.join(_BUILTIN_TYPES)} or 'package.module:ClassName' "
                "(type defaults to the entry's name)"
            )
        return value


_PROVIDER_CLASSES: dict[str, type[ProviderConfig]] = {
    "openai": OpenAIConfig,
    "anthropic": AnthropicConfig,
    "gemini": GeminiConfig,
    "vertex": VertexConfig,
    "bedrock": BedrockConfig,
    "custom": CustomProviderConfig,
}


def _provider_tag(value: Any) -> str | None:
    """Pick the provider model for one entry from its ``type``."""
    if isinstance(value, ProviderConfig):
        kind: object = value.type
    elif isinstance(value, Mapping):
        kind = value.get("type")
    else:
        return None
    return kind if isinstance(kind, str) and kind in _BUILTIN_TYPES else "custom"


_ProviderEntry = Annotated[
    Annotated[OpenAIConfig, Tag("openai")]
    | Annotated[AnthropicConfig, Tag("anthropic")]
    | Annotated[GeminiConfig, Tag("gemini")]
    | Annotated[VertexConfig, Tag("vertex")]
    | Annotated[BedrockConfig, Tag("bedrock")]
    | Annotated[CustomProviderConfig, Tag("custom")],
    Discriminator(
        _provider_tag,
        custom_error_type="provider_entry",
        custom_error_message="a provider entry must be a mapping of settings",
    ),
]


# --------------------------------------------------------------------------- other sections


class CostTrackingConfig(BaseModel):
    """The ``cost_tracking:`` section.

    Attributes:
        enabled: Whether usage records are stored in the ledger.
        ledger: The ledger's URL: ``jsonl:PATH``, ``sqlite:///PATH`` (``sqlite:////abs``) or
            ``postgresql://USER@HOST/DB`` (``llmorch[postgres]``). Unset: ``jsonl:`` +
            ``log_path``.
        log_path: The JSON-lines ledger, relative to the working directory (the default
            ledger; not together with ``ledger``).
        spool_path: Where records wait while the ledger refuses them, relative to the working
            directory.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: bool = True
    ledger: str | None = None
    log_path: str = "./llm_costs.log"
    spool_path: str = "./llm_costs.spool"

    @model_validator(mode="before")
    @classmethod
    def _one_ledger(cls, value: Any) -> Any:
        """``ledger`` and ``log_path`` name the same thing: only one may be given."""
        if isinstance(value, Mapping) and value.get("ledger") and value.get("log_path"):
            raise ValueError(
                "ledger and log_path are both set: give one (log_path P is ledger jsonl:P)"
            )
        return value

    @field_validator("ledger")
    @classmethod
    def _ledger_url(cls, value: str | None) -> str | None:
        """A malformed URL fails the load (no connection is tried)."""
        if value is not None:
            try:
                parse_ledger_url(value, key="URL")
            except ConfigurationError as exc:
                raise ValueError(str(exc).removeprefix("URL: ")) from None
        return value

    @property
    def ledger_url(self) -> str:
        """The ledger's URL, ``ledger`` or ``jsonl:`` + ``log_path``."""
        return self.ledger or f"jsonl:{self.log_path}"


class BudgetMatch(BaseModel):
    """Which calls a budget counts: every key given must hold.

    Attributes:
        provider: The configured provider name.
        model: The model id requested (the attempt's model, fallbacks included).
        session: The orchestrator's ``session_id``.
        tags: Tags the call must carry with exactly these values.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    provider: _NonEmptyStr | None = None
    model: _NonEmptyStr | None = None
    session: _NonEmptyStr | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class BudgetConfig(BaseModel):
    """One entry of ``budgets:``: a spend limit over a window, shared through the ledger.

    Attributes:
        name: Unique name (the ledger keeps the spend under it).
        limit_usd: The most that may be recorded in one window, in USD.
        window: ``day`` and ``month`` are UTC calendar days and months; ``total`` never resets.
        match: The calls it counts; empty means every call.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: _NonEmptyStr
    limit_usd: float = Field(ge=0, allow_inf_nan=False)
    window: Literal["day", "month", "total"]
    match: BudgetMatch = Field(default_factory=BudgetMatch)


class ModelPrice(BaseModel):
    """One model's price in USD per million tokens.

    Attributes:
        input: Price of prompt tokens.
        output: Price of completion (and reasoning) tokens.
        cache_read: Price of prompt tokens read from a cache, if the vendor bills them apart.
        cache_write: Price of prompt tokens written to a cache, if the vendor bills them apart.
        cache_write_1h: Price of 1-hour cache writes (Anthropic); unset means ``cache_write``.
        long_context_threshold: Prompt size above which the ``*_long`` prices apply.
        input_long: ``input`` above the threshold.
        output_long: ``output`` above the threshold.
        cache_read_long: ``cache_read`` above the threshold.
        cache_write_long: ``cache_write`` above the threshold.
        cache_write_1h_long: ``cache_write_1h`` above the threshold.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    cache_write_1h: float | None = Field(default=None, ge=0)
    long_context_threshold: int | None = Field(default=None, ge=0)
    input_long: float | None = Field(default=None, ge=0)
    output_long: float | None = Field(default=None, ge=0)
    cache_read_long: float | None = Field(default=None, ge=0)
    cache_write_long: float | None = Field(default=None, ge=0)
    cache_write_1h_long: float | None = Field(default=None, ge=0)


class ObservabilityConfig(BaseModel):
    """The ``observability:`` section: OpenTelemetry spans and metrics (SPEC §2.12).

    Attributes:
        enabled: Emit GenAI spans and metrics through the application's OpenTelemetry
            providers. On by default, and then a no-op (nothing imported, nothing done) until
            the application imports ``opentelemetry``; set ``true`` explicitly to require
            ``llmorch[otel]`` (a ``ConfigurationError`` without it), ``false`` to turn it off.
        capture_content: Also record the messages, answers and tool definitions on the spans
            (``gen_ai.input.messages``, ``gen_ai.output.messages``); they may hold personal data.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: bool = True
    capture_content: bool = False


def _default_cache_path() -> str:
    """``$XDG_CACHE_HOME/llmorch/models.json``, else ``~/.cache/llmorch/models.json``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return str(base / "llmorch" / "models.json")


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(s|m|h|d)?\s*", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ModelDiscoveryConfig(BaseModel):
    """The ``model_discovery:`` section.

    Attributes:
        refresh_on_start: Whether an orchestrator lists, when it starts, the providers whose
            cached listing is older than ``max_age``.
        cache_path: The JSON file the model cache persists to; ``None`` (YAML ``null``) keeps it
            in memory only. Not given: ``$XDG_CACHE_HOME/llmorch/models.json``.
        max_age: Seconds a cached listing stays fresh (start-up does not list it again). YAML
            takes seconds or a duration: ``90s``, ``30m``, ``24h`` (the default), ``7d``.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    refresh_on_start: bool = True
    cache_path: str | None = Field(default_factory=_default_cache_path)
    max_age: float = Field(default=86400, ge=0)

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Turn ``"24h"``-style durations into seconds; numbers pass through."""
        if not isinstance(value, str):
            return value
        match = _DURATION.fullmatch(value)
        if match is None:
            raise ValueError(f"expected seconds or a duration like 30m, 24h or 7d, got {value!r}")
        return float(match[1]) * _UNIT_S[(match[2] or "s").lower()]


# --------------------------------------------------------------------------- the whole file


class OrchestratorConfig(BaseModel):
    """A whole, validated configuration.

    Build one with :meth:`from_dict` or :meth:`ConfigManager.load_config` so that ``${VAR}``
    references are resolved and errors come out as ``ConfigurationError``.

    Attributes:
        active_provider: The provider used when a call names none; a key of ``providers``.
        active_model: The model used when a call names none.
        providers: Provider entries by name.
        cost_tracking: Ledger settings.
        budgets: Spend limits, enforced before each attempt (SPEC §2.11).
        budgets_fail_open: Let calls under a budget go on when the ledger cannot be reached
            (default: they fail with ``BudgetExceededError``).
        budget_reservation_ttl_s: Seconds after which the reservation of an attempt that
            never settled (its process died) no longer counts.
        pricing: Price overrides, ``{provider: {model: ModelPrice}}``.
        pricing_file: A YAML or JSON price file (the shipped table's fields, keyed by provider
            type then model id; see :func:`llmorch.pricing.load_price_file`), read once at
            start and laid over the shipped table; ``pricing`` still wins over both. A relative
            path is relative to the configuration file's directory.
        model_discovery: Model cache settings.
        http_transport: What carries httpx's requests: ``auto``, ``aiohttp`` or ``httpx``.
        observability: OpenTelemetry settings.
        source: The file this configuration came from, if any (never dumped).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    active_provider: _NonEmptyStr
    active_model: _NonEmptyStr
    providers: dict[str, _ProviderEntry]
    cost_tracking: CostTrackingConfig = Field(default_factory=CostTrackingConfig)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    budgets_fail_open: bool = False
    budget_reservation_ttl_s: float = Field(default=600, gt=0, allow_inf_nan=False)
    pricing: dict[str, dict[str, ModelPrice]] = Field(default_factory=dict)
    pricing_file: str | None = None
    model_discovery: ModelDiscoveryConfig = Field(default_factory=ModelDiscoveryConfig)
    http_transport: Literal["auto", "aiohttp", "httpx"] = "auto"
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    source: str | None = Field(default=None, exclude=True)
    _price_table: dict[str, dict[str, _pricing.ModelPrice]] | None = PrivateAttr(default=None)

    @field_validator(
        "cost_tracking", "pricing", "model_discovery", "budgets", "observability", mode="before"
    )
    @classmethod
    def _null_section(cls, value: Any, info: ValidationInfo) -> Any:
        """An empty section (``pricing:`` with everything commented out) means the defaults."""
        if value is None:
            return cls.model_fields[str(info.field_name)].get_default(call_default_factory=True)
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _default_types(cls, value: Any) -> Any:
        """Give every entry a ``type``, defaulting to its name; ``name:`` alone means defaults."""
        if not isinstance(value, Mapping):
            return value
        if not value:
            raise ValueError("at least one provider must be configured")
        entries: dict[Any, Any] = {}
        for name, entry in value.items():
            if entry is None:
                entry = {}
            if isinstance(entry, Mapping) and entry.get("type") is None:
                entry = {**entry, "type": name}
            entries[name] = entry
        return entries

    @model_validator(mode="after")
    def _cross_checks(self) -> OrchestratorConfig:
        configured = ", ".join(self.providers)
        problems = []
        if self.active_provider not in self.providers:
            problems.append(
                f"active_provider: {self.active_provider!r} is not a configured provider "
                f"(configured: {configured})"
            )
        problems.extend(
            f"pricing.{name}: not a configured provider (configured: {configured})"
            for name in self.pricing
            if name not in self.providers
        )
        if self.budgets and not self.cost_tracking.enabled:
            problems.append("budgets: budgets need the ledger, but cost_tracking.enabled is false")
        seen: set[str] = set()
        for index, budget in enumerate(self.budgets):
            if budget.name in seen:
                problems.append(f"budgets.{index}.name: {budget.name!r} is used twice")
            seen.add(budget.name)
            wanted = budget.match.provider
            if wanted is not None and wanted not in self.providers:
                problems.append(
                    f"budgets[{index}].match.provider: {wanted!r} is not a configured provider "
                    f"(configured: {configured})"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> OrchestratorConfig:
        """Resolve ``${VAR}`` references, validate, and check the active provider is usable.

        Args:
            data: The parsed configuration (e.g. from ``yaml.safe_load``).
            source: The file it came from, named in every error message.

        Returns:
            The validated configuration.

        Raises:
            ConfigurationError: One line per problem, each naming the file and the key path.
        """
        prefix = _prefix(source)
        if not isinstance(data, Mapping):
            kind = type(data).__name__
            raise ConfigurationError(f"{prefix}the top level must be a mapping, not {kind}")
        if "source" in data:
            raise ConfigurationError(f"{prefix}source: unknown key")
        resolver = _EnvResolver()
        resolved = resolver.resolve(data, ())
        if resolver.errors:
            raise ConfigurationError("\n".join(prefix + line for line in resolver.errors))
        try:
            config = cls.model_validate({**resolved, "source": source})
        except ValidationError as exc:
            # ``from None``: the ValidationError's own text echoes input values (secrets).
            raise ConfigurationError(_describe(exc, prefix)) from None
        for name, unresolved in resolver.unresolved.items():
            config.providers[name]._unresolved = unresolved
        config.require_provider(config.active_provider)
        config.price_table()  # a bad price file fails the load, not the first call
        return config

    def price_table(self) -> dict[str, dict[str, _pricing.ModelPrice]]:
        """The price table under ``pricing``: the shipped one with ``pricing_file`` laid over it.

        The file is read once, on first use (:meth:`from_dict` does it at load).

        Returns:
            Prices keyed by provider type, then model id.

        Raises:
            ConfigurationError: The price file is missing or invalid (naming it and the key).
        """
        if self._price_table is None:
            table = {kind: dict(models) for kind, models in _pricing.DEFAULT_PRICES.items()}
            if self.pricing_file:
                path = Path(self.pricing_file).expanduser()
                if not path.is_absolute() and self.source:
                    path = Path(self.source).resolve().parent / path
                for kind, models in _pricing.load_price_file(path).items():
                    table.setdefault(kind, {}).update(models)
            self._price_table = table
        return self._price_table

    def provider(self, name: str) -> ProviderConfig:
        """The configuration of one provider.

        Args:
            name: A key of ``providers``.

        Returns:
            That provider's configuration.

        Raises:
            ConfigurationError: ``name`` is not configured; the message lists those that are.
        """
        try:
            return self.providers[name]
        except KeyError:
            import difflib

            hint = difflib.get_close_matches(name, self.providers, n=1)
            did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
            raise ConfigurationError(
                f"{_prefix(self.source)}unknown provider {name!r}; {did_you_mean}"
                f"configured providers: {', '.join(self.providers)}"
            ) from None

    def require_provider(self, name: str) -> ProviderConfig:
        """Like :meth:`provider`, and also check every ``${VAR}`` it references is set.

        Args:
            name: A key of ``providers``.

        Returns:
            That provider's configuration.

        Raises:
            ConfigurationError: ``name`` is not configured, or names an unset variable.
        """
        config = self.provider(name)
        if config._unresolved:
            prefix = _prefix(self.source)
            raise ConfigurationError(
                "\n".join(
                    f"{prefix}{path}: environment variable {var} is not set"
                    for path, var in config._unresolved.items()
                )
            )
        return config

    def masked(self) -> dict[str, Any]:
        """The resolved configuration as plain data, every secret shown as ``**********``.

        Returns:
            JSON-compatible data (what ``llmorch config check`` prints).
        """
        data = self.model_dump(mode="json")
        for name, entry in data["providers"].items():
            extra = self.providers[name].model_extra or {}
            data["providers"][name] = {
                key: (
                    _mask_headers(value)
                    if key == "headers"
                    else _MASK
                    if key in extra and _SECRET_NAME.search(key)
                    else _mask_value(value)
                )
                for key, value in entry.items()
            }
        if self.cost_tracking.ledger:
            data["cost_tracking"]["ledger"] = redact_url(self.cost_tracking.ledger)
        return data

    def secrets(self) -> list[str]:
        """Every configured secret: the providers' and the ledger URL's password.

        See :meth:`ProviderConfig.secrets` for a provider's.

        Returns:
            The distinct non-empty secrets, longest first.
        """
        found = {text for provider in self.providers.values() for text in provider.secrets()}
        if self.cost_tracking.ledger:
            with contextlib.suppress(ValueError):
                password = urlsplit(self.cost_tracking.ledger).password
                if password:
                    found.update({password, unquote(password)})
        return sorted(found, key=lambda text: (-len(text), text))

    def unset_variables(self) -> dict[str, str]:
        """The ``${VAR}`` references of providers that are not set, by key path.

        Such a provider fails when it is used (the active provider's fail the load already).

        Returns:
            ``{"providers.anthropic.api_key": "ANTHROPIC_API_KEY", ...}``; several variables
            in one value are listed comma-separated.
        """
        return {
            path: names
            for provider in self.providers.values()
            for path, names in provider._unresolved.items()
        }


class _EnvResolver:
    """Replaces ``${VAR}`` / ``${VAR:-default}`` through nested data, recording unset ones.

    An unset variable inside ``providers.<name>`` (other than its ``type``) removes that value and
    is recorded in ``unresolved[name]``; anywhere else it is an error.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.unresolved: dict[str, dict[str, str]] = {}

    def resolve(self, node: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            items = ((k, self.resolve(v, (*path, str(k)))) for k, v in node.items())
            return {k: v for k, v in items if v is not _UNSET}
        if isinstance(node, list):
            resolved = (self.resolve(v, (*path, str(i))) for i, v in enumerate(node))
            return [v for v in resolved if v is not _UNSET]
        if not isinstance(node, str):
            return node
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            value = os.environ.get(match[1])
            if match[2] is not None and not value:
                return match[2]
            if value is None:
                missing.append(match[1])
                return ""
            return value

        text = _ENV_PATTERN.sub(substitute, node)
        if not missing:
            return text
        dotted, names = ".".join(path), ", ".join(missing)
        if len(path) >= 3 and path[0] == "providers" and path[2] != "type":
            self.unresolved.setdefault(path[1], {})[dotted] = names
            return _UNSET
        plural = "s" if len(missing) > 1 else ""
        verb = "are" if plural else "is"
        self.errors.append(f"{dotted}: environment variable{plural} {names} {verb} not set")
        return _UNSET


_UNSET = object()


def _describe(exc: ValidationError, prefix: str) -> str:
    """One line per error: ``file: dotted.key.path: problem``, never the offending value."""
    lines: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = list(error["loc"])
        tagged = len(loc) >= 3 and loc[0] == "providers" and loc[2] in _PROVIDER_CLASSES
        model = _PROVIDER_CLASSES[str(loc.pop(2))] if tagged else None
        msg = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            msg = "required key is missing"
        elif error["type"] == "extra_forbidden":
            msg = "unknown key" + _suggest(str(loc[-1]), _allowed_keys(loc, model))
        path = ".".join(str(part) for part in loc)
        lines.extend(
            f"{prefix}{path}: {line}" if path else prefix + line for line in msg.split("\n")
        )
    return "\n".join(lines)


def _allowed_keys(loc: list[int | str], provider_model: type[ProviderConfig] | None) -> list[str]:
    sections: dict[str, type[BaseModel]] = {
        "cost_tracking": CostTrackingConfig,
        "model_discovery": ModelDiscoveryConfig,
        "observability": ObservabilityConfig,
        "pricing": ModelPrice,
    }
    if loc and loc[0] == "budgets":
        sections["budgets"] = BudgetMatch if "match" in loc[:-1] else BudgetConfig
    model = provider_model or (sections[str(loc[0])] if len(loc) > 1 else OrchestratorConfig)
    return sorted(name for name, field in model.model_fields.items() if not field.exclude)


def _suggest(key: str, allowed: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed keys: {', '.join(allowed)}"


def _load_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` that refuses a key given twice in one mapping.

    Raises:
        ConfigurationError: A duplicate key (named by file, line and key path).
        yaml.YAMLError: The text is not YAML.
    """
    import yaml  # here, not at import: only a configuration file needs it

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, (), source, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(
    node: yaml.Node, path: tuple[str, ...], source: str, visited: set[int]
) -> None:
    if id(node) in visited:  # an alias of a node already checked (or a recursive one)
        return
    visited.add(id(node))
    import yaml

    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*path, str(index)), source, visited)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key in seen:
                    where = ".".join((*path, key))
                    raise ConfigurationError(
                        f"{source}: line {key_node.start_mark.line + 1}: {where}: duplicate key "
                        f"(first given on line {seen[key]})"
                    )
                seen[key] = key_node.start_mark.line + 1
            _refuse_duplicate_keys(value_node, (*path, key), source, visited)


class ConfigManager:
    """Reads configuration files."""

    @staticmethod
    def load_config(path: str | os.PathLike[str]) -> OrchestratorConfig:
        """Read, resolve and validate a YAML configuration file.

        Args:
            path: The YAML file.

        Returns:
            The validated configuration.

        Raises:
            ConfigurationError: The file is missing, unreadable, not YAML, not a mapping, or
                invalid; the message names the file and, where there is one, the key path.
        """
        import yaml

        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigurationError(f"{source}: file not found") from None
        except UnicodeDecodeError:
            raise ConfigurationError(f"{source}: not a UTF-8 text file") from None
        except OSError as exc:
            raise ConfigurationError(f"{source}: cannot read: {exc.strerror}") from None
        try:
            data = _load_yaml(text, source)
        except yaml.YAMLError as exc:
            # Only the position and the problem: the snippet could show a secret.
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or "cannot parse"
            raise ConfigurationError(f"{source}: {where}invalid YAML: {problem}") from None
        if data is None:
            raise ConfigurationError(f"{source}: the file is empty")
        return OrchestratorConfig.from_dict(data, source=source)
