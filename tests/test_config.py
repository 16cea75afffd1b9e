"""Tests for llmorch.config: models, ${ENV} resolution, error messages, secrecy."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmorch import config as config_module
from llmorch.config import (
    AnthropicConfig,
    BedrockConfig,
    ConfigManager,
    CustomProviderConfig,
    GeminiConfig,
    ModelDiscoveryConfig,
    OpenAIConfig,
    OrchestratorConfig,
    VertexConfig,
)
from llmorch.exceptions import ConfigurationError

SECRET = "sk-test-DISTINCTIVE-9f8e7d6c"
REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "AWS_REGION",
    "LLMORCH_TEST_UNSET",
    "LLMORCH_TEST_EMPTY",
)

MINIMAL = """\
active_provider: openai
active_model: gpt-4o-mini
providers:
  openai:
    api_key: sk-plain
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> OrchestratorConfig:
    return ConfigManager.load_config(write(tmp_path, text))


def load_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigurationError) as info:
        load(tmp_path, text)
    return str(info.value)


def base(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "active_provider": "openai",
        "active_model": "gpt-4o-mini",
        "providers": {"openai": {"api_key": SECRET}},
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------------- valid configs


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    """A minimal file loads, with every default filled in and the source recorded."""
    config = load(tmp_path, MINIMAL)

    openai = config.provider("openai")
    assert isinstance(openai, OpenAIConfig)
    assert "openai" == openai.type
    assert "sk-plain" == openai.api_key.get_secret_value()  # type: ignore[union-attr]
    assert (None, [], 60, 2, 30, {}, 0) == (
        openai.base_url,
        openai.fallback_models,
        openai.timeout,
        openai.max_retries,
        openai.max_backoff_s,
        openai.headers,
        openai.cooldown_s,
    )
    assert (True, "./llm_costs.log") == (
        config.cost_tracking.enabled,
        config.cost_tracking.log_path,
    )
    assert {} == config.pricing
    assert "auto" == config.http_transport
    assert str(tmp_path / "config.yaml") == config.source


def test_type_defaults_to_entry_name_for_every_builtin() -> None:
    """Each built-in provider name selects its own config class."""
    providers: dict[str, Any] = {
        name: {} for name in ("openai", "anthropic", "gemini", "vertex", "bedrock")
    }
    config = OrchestratorConfig.from_dict(base(providers=providers))

    classes = {name: type(entry) for name, entry in config.providers.items()}

    assert {
        "openai": OpenAIConfig,
        "anthropic": AnthropicConfig,
        "gemini": GeminiConfig,
        "vertex": VertexConfig,
        "bedrock": BedrockConfig,
    } == classes
    assert "us-central1" == config.providers["vertex"].location  # type: ignore[union-attr]


def test_explicit_type_openai_for_ollama(tmp_path: Path) -> None:
    """`type: openai` under another name is an OpenAI-compatible provider; trailing / stripped."""
    config = load(
        tmp_path,
        """\
        active_provider: ollama
        active_model: llama3.2
        providers:
          ollama:
            type: openai
            base_url: http://localhost:11434/v1/
        """,
    )

    ollama = config.provider("ollama")
    assert isinstance(ollama, OpenAIConfig)
    assert "http://localhost:11434/v1" == ollama.base_url


def test_empty_entry_and_null_sections_mean_defaults() -> None:
    """`name:` alone, `headers:` / `fallback_models:` null and empty sections use defaults."""
    data = base(
        providers={
            "openai": {"headers": None, "fallback_models": None, "organization": ""},
            "anthropic": None,
        },
        cost_tracking=None,
        pricing=None,
        model_discovery=None,
    )
    config = OrchestratorConfig.from_dict(data)

    openai = config.providers["openai"]
    assert ({}, [], None) == (openai.headers, openai.fallback_models, openai.organization)  # type: ignore[union-attr]
    assert isinstance(config.providers["anthropic"], AnthropicConfig)
    assert {} == config.pricing
    assert config.cost_tracking.enabled


def test_custom_provider_type_allows_extra_keys() -> None:
    """A `pkg.mod:Cls` type gives a CustomProviderConfig that keeps unknown keys."""
    data = base(providers={"openai": {}, "mine": {"type": "my_pkg.llm:Client", "region": "x"}})
    config = OrchestratorConfig.from_dict(data)

    mine = config.provider("mine")
    assert isinstance(mine, CustomProviderConfig)
    assert "my_pkg.llm:Client" == mine.type
    assert {"region": "x"} == mine.model_extra


def test_provider_instances_are_accepted() -> None:
    """Provider config objects built in Python are kept as they are."""
    openai = OpenAIConfig(timeout=5)
    config = OrchestratorConfig(
        active_provider="openai", active_model="gpt-4o-mini", providers={"openai": openai}
    )

    assert openai is config.providers["openai"]


def test_bedrock_and_vertex_specific_keys() -> None:
    """Bedrock and Vertex accept their own keys; endpoint URLs are validated and stripped."""
    data = base(
        providers={
            "openai": {},
            "bedrock": {
                "region_name": "us-west-2",
                "base_url": "",
                "aws_access_key_id": "AKIA-EXAMPLE",
                "aws_secret_access_key": SECRET,
                "endpoint_url": "https://bedrock-runtime.us-west-2.amazonaws.com/",
                "control_endpoint_url": "https://bedrock.us-west-2.amazonaws.com",
            },
            "vertex": {"project_id": "p", "location": "europe-west4", "base_url": None},
        }
    )
    config = OrchestratorConfig.from_dict(data)

    bedrock = config.providers["bedrock"]
    assert isinstance(bedrock, BedrockConfig)
    assert "https://bedrock-runtime.us-west-2.amazonaws.com" == bedrock.endpoint_url
    assert SECRET == bedrock.aws_secret_access_key.get_secret_value()  # type: ignore[union-attr]
    assert ("p", "europe-west4", None) == (
        config.providers["vertex"].project_id,  # type: ignore[union-attr]
        config.providers["vertex"].location,  # type: ignore[union-attr]
        config.providers["vertex"].base_url,
    )


# --------------------------------------------------------------------------- invalid configs

INVALID_CASES = [
    pytest.param(
        MINIMAL + "colour: blue\n",
        "colour: unknown key; allowed keys: active_model",
        id="unknown-top-level-key",
    ),
    pytest.param(
        MINIMAL + "    timout: 5\n",
        "providers.openai.timout: unknown key; did you mean 'timeout'?",
        id="unknown-provider-key",
    ),
    pytest.param(
        MINIMAL + "    timeout: abc\n",
        "providers.openai.timeout: Input should be a valid number",
        id="timeout-not-a-number",
    ),
    pytest.param(
        MINIMAL + "    timeout: 0\n",
        "providers.openai.timeout: Input should be greater than 0",
        id="zero-timeout",
    ),
    pytest.param(
        MINIMAL + "    timeout: -1\n",
        "providers.openai.timeout: Input should be greater than 0",
        id="negative-timeout",
    ),
    pytest.param(
        MINIMAL + "    max_retries: -1\n",
        "providers.openai.max_retries: Input should be greater than or equal to 0",
        id="negative-max-retries",
    ),
    pytest.param(
        MINIMAL + "    fallback_models: [gpt-4o, '']\n",
        "providers.openai.fallback_models.1: String should have at least 1 character",
        id="empty-fallback-model",
    ),
    pytest.param(
        MINIMAL.replace("active_provider: openai", "active_provider: anthropic"),
        "active_provider: 'anthropic' is not a configured provider (configured: openai)",
        id="active-provider-not-configured",
    ),
    pytest.param(
        MINIMAL + "pricing:\n  mistral:\n    m: {input: 1, output: 2}\n",
        "pricing.mistral: not a configured provider (configured: openai)",
        id="pricing-unknown-provider",
    ),
    pytest.param(
        MINIMAL + "pricing:\n  openai:\n    m: {input: 1, outptu: 2}\n",
        "pricing.openai.m.outptu: unknown key; did you mean 'output'?",
        id="pricing-unknown-key",
    ),
    pytest.param(
        MINIMAL + "pricing:\n  openai:\n    m: {input: -1, output: 2}\n",
        "pricing.openai.m.input: Input should be greater than or equal to 0",
        id="negative-price",
    ),
    pytest.param(
        MINIMAL + "    base_url: ftp://example.com/v1\n",
        "providers.openai.base_url: must be an http:// or https:// URL",
        id="bad-url-scheme",
    ),
    pytest.param(
        MINIMAL + "    base_url: localhost\n",
        "providers.openai.base_url: must be an http:// or https:// URL",
        id="url-without-host",
    ),
    pytest.param(
        MINIMAL + "  local:\n    type: Opnai\n",
        "providers.local.type: unknown provider type 'Opnai' (did you mean 'openai'?); "
        "expected one of anthropic, bedrock, gemini, openai, vertex or 'package.module:ClassName'",
        id="unknown-provider-type",
    ),
    pytest.param(
        MINIMAL + "  mistral: {}\n",
        "providers.mistral.type: unknown provider type 'mistral'; expected one of",
        id="unknown-provider-name-without-type",
    ),
    pytest.param(
        MINIMAL + "  broken: [1, 2]\n",
        "providers.broken: a provider entry must be a mapping of settings",
        id="provider-entry-not-a-mapping",
    ),
    pytest.param(
        MINIMAL + "  bedrock:\n    base_url: https://example.com\n",
        "providers.bedrock.base_url: Bedrock takes endpoint_url and control_endpoint_url",
        id="bedrock-base-url",
    ),
    pytest.param(
        MINIMAL + "  bedrock:\n    endpoint_url: bedrock\n",
        "providers.bedrock.endpoint_url: must be an http:// or https:// URL",
        id="bedrock-bad-endpoint",
    ),
    pytest.param(
        "active_provider: openai\nactive_model: m\nproviders: {}\n",
        "providers: at least one provider must be configured",
        id="empty-providers",
    ),
    pytest.param(
        "active_provider: openai\nactive_model: m\nproviders: [openai]\n",
        "providers: Input should be a valid dictionary",
        id="providers-not-a-mapping",
    ),
    pytest.param(
        MINIMAL.replace("active_model: gpt-4o-mini\n", ""),
        "active_model: required key is missing",
        id="missing-active-model",
    ),
    pytest.param(
        MINIMAL + "cost_tracking:\n  enabld: false\n",
        "cost_tracking.enabld: unknown key; did you mean 'enabled'?",
        id="unknown-section-key",
    ),
    pytest.param(
        MINIMAL + "model_discovery:\n  zzz: 1\n",
        "model_discovery.zzz: unknown key; allowed keys: cache_path, max_age, refresh_on_start",
        id="unknown-section-key-no-close-match",
    ),
    pytest.param(
        MINIMAL + "http_transport: requests\n",
        "http_transport: Input should be 'auto', 'aiohttp' or 'httpx'",
        id="bad-transport",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID_CASES)
def test_invalid_config_names_file_path_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Every invalid config raises ConfigurationError naming the file, key path and problem."""
    message = load_error(tmp_path, text)

    assert message.startswith(f"{tmp_path / 'config.yaml'}: ")
    assert expected in message


def test_several_problems_give_one_line_each(tmp_path: Path) -> None:
    """Several problems are reported together, one line per problem, each with the file."""
    message = load_error(tmp_path, MINIMAL + "    timeout: 0\n    max_retries: -1\ncolour: x\n")

    lines = message.splitlines()
    assert 3 == len(lines)
    assert all(line.startswith(f"{tmp_path / 'config.yaml'}: ") for line in lines)
    assert ["colour", "providers.openai.max_retries", "providers.openai.timeout"] == sorted(
        line.split(": ")[1] for line in lines
    )


def test_validation_error_is_not_chained() -> None:
    """The pydantic ValidationError (which echoes inputs) is not attached to the error."""
    with pytest.raises(ConfigurationError) as info:
        OrchestratorConfig.from_dict(base(http_transport="x"))

    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_from_dict_without_source_has_no_file_prefix() -> None:
    """Without a source file, messages start with the key path."""
    with pytest.raises(ConfigurationError) as info:
        OrchestratorConfig.from_dict(base(colour=1))

    assert str(info.value).startswith("colour: unknown key")


def test_from_dict_rejects_non_mapping_and_source_key() -> None:
    """A non-mapping top level and a `source:` key in the data are errors."""
    with pytest.raises(ConfigurationError) as not_mapping:
        OrchestratorConfig.from_dict([1, 2], source="x.yaml")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as source_key:
        OrchestratorConfig.from_dict(base(source="y"), source="x.yaml")

    assert "x.yaml: the top level must be a mapping, not list" == str(not_mapping.value)
    assert "x.yaml: source: unknown key" == str(source_key.value)


# --------------------------------------------------------------------------- file handling


def test_missing_file(tmp_path: Path) -> None:
    """A missing file is a ConfigurationError naming it."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError) as info:
        ConfigManager.load_config(path)

    assert f"{path}: file not found" == str(info.value)


def test_unreadable_path(tmp_path: Path) -> None:
    """A path that cannot be read (a directory) is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError) as info:
        ConfigManager.load_config(tmp_path)

    assert str(info.value).startswith(f"{tmp_path}: cannot read: ")


def test_non_utf8_file(tmp_path: Path) -> None:
    """A file that is not UTF-8 text is a ConfigurationError naming it."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"active_model: \xff\xfe\n")
    with pytest.raises(ConfigurationError) as info:
        ConfigManager.load_config(path)

    assert f"{path}: not a UTF-8 text file" == str(info.value)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error names the file, the line and column, and the problem."""
    message = load_error(tmp_path, f"active_provider: openai\napi_key: {SECRET}: x\n")

    assert (
        f"{tmp_path / 'config.yaml'}: line 2, column {len(SECRET) + 10}: "
        "invalid YAML: mapping values are not allowed here"
    ) == message
    assert SECRET not in message


def test_yaml_error_without_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A YAML error with no position or problem still names the file."""

    def fail(text: str, source: str) -> None:
        raise yaml.YAMLError("boom")

    monkeypatch.setattr(config_module, "_load_yaml", fail)

    assert f"{tmp_path / 'config.yaml'}: invalid YAML: cannot parse" == load_error(
        tmp_path, MINIMAL
    )


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    """A YAML list at the top level is a ConfigurationError naming the file."""
    message = load_error(tmp_path, "- openai\n- anthropic\n")

    assert f"{tmp_path / 'config.yaml'}: the top level must be a mapping, not list" == message


def test_empty_file(tmp_path: Path) -> None:
    """An empty file is a ConfigurationError naming the file."""
    assert f"{tmp_path / 'config.yaml'}: the file is empty" == load_error(tmp_path, "# nothing\n")


# --------------------------------------------------------------------------- ${ENV}


def test_env_var_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`${VAR}` takes the variable; `${VAR:-default}` falls back when unset or empty."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("LLMORCH_TEST_EMPTY", "")
    config = load(
        tmp_path,
        """\
        active_provider: openai
        active_model: ${LLMORCH_TEST_UNSET:-gpt-4o-mini}
        providers:
          openai:
            api_key: ${OPENAI_API_KEY}
            timeout: ${LLMORCH_TEST_EMPTY:-12.5}
            organization: ${LLMORCH_TEST_EMPTY}
        """,
    )

    openai = config.providers["openai"]
    assert SECRET == openai.api_key.get_secret_value()  # type: ignore[union-attr]
    assert "gpt-4o-mini" == config.active_model
    assert 12.5 == openai.timeout
    assert openai.organization is None  # type: ignore[union-attr]


def test_env_vars_embedded_multiple_and_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several variables resolve inside one string, and inside nested dicts and lists."""
    monkeypatch.setenv("OPENAI_API_KEY", "tok")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    data = base(
        providers={
            "openai": {
                "headers": {"X-Trace": "Bearer ${OPENAI_API_KEY}-${GOOGLE_CLOUD_PROJECT}"},
                "fallback_models": ["${GOOGLE_CLOUD_PROJECT}-a", "b-${LLMORCH_TEST_UNSET:-x}"],
                "max_retries": 3,
            }
        }
    )
    config = OrchestratorConfig.from_dict(data)

    openai = config.providers["openai"]
    assert {"X-Trace": "Bearer tok-proj"} == openai.headers
    assert ["proj-a", "b-x"] == openai.fallback_models
    assert 3 == openai.max_retries


def test_empty_default_makes_api_key_none() -> None:
    """`${VAR:-}` resolves to "" and an empty api_key means no key."""
    config = OrchestratorConfig.from_dict(
        base(providers={"openai": {"api_key": "${LLMORCH_TEST_UNSET:-}"}})
    )

    assert config.providers["openai"].api_key is None


def test_unset_var_in_inactive_provider_is_deferred(tmp_path: Path) -> None:
    """An unset variable of another provider loads fine; require_provider names var and path."""
    config = load(
        tmp_path,
        MINIMAL
        + "  anthropic:\n    api_key: ${ANTHROPIC_API_KEY}\n"
        + "    headers: {X-A: '${ANTHROPIC_API_KEY}', X-B: '${GEMINI_API_KEY}'}\n",
    )

    assert config.provider("anthropic").api_key is None
    with pytest.raises(ConfigurationError) as info:
        config.require_provider("anthropic")
    prefix = f"{tmp_path / 'config.yaml'}: providers.anthropic."
    assert [
        prefix + "api_key: environment variable ANTHROPIC_API_KEY is not set",
        prefix + "headers.X-A: environment variable ANTHROPIC_API_KEY is not set",
        prefix + "headers.X-B: environment variable GEMINI_API_KEY is not set",
    ] == str(info.value).splitlines()
    assert config.require_provider("openai") is config.providers["openai"]


def test_unset_var_in_active_provider_fails_at_load(tmp_path: Path) -> None:
    """An unset variable of the active provider is an error at load time."""
    message = load_error(tmp_path, MINIMAL.replace("sk-plain", "${OPENAI_API_KEY}"))

    assert (
        f"{tmp_path / 'config.yaml'}: providers.openai.api_key: "
        "environment variable OPENAI_API_KEY is not set"
    ) == message


def test_unset_vars_outside_providers_fail_at_load(tmp_path: Path) -> None:
    """Unset variables outside `providers:` (or in a provider's type) fail the load."""
    message = load_error(
        tmp_path,
        MINIMAL.replace("gpt-4o-mini", "${LLMORCH_TEST_UNSET}-${GEMINI_API_KEY}")
        + "  other:\n    type: ${ANTHROPIC_API_KEY}\n",
    )

    prefix = f"{tmp_path / 'config.yaml'}: "
    assert [
        prefix
        + "active_model: environment variables LLMORCH_TEST_UNSET, GEMINI_API_KEY are not set",
        prefix + "providers.other.type: environment variable ANTHROPIC_API_KEY is not set",
    ] == message.splitlines()


def test_unknown_provider_lists_configured_names(tmp_path: Path) -> None:
    """provider() with an unknown name lists the configured ones and suggests a close one."""
    config = load(tmp_path, MINIMAL + "  anthropic: {}\n")

    with pytest.raises(ConfigurationError) as close:
        config.provider("anthropc")
    with pytest.raises(ConfigurationError) as far:
        config.require_provider("zzz")

    prefix = f"{tmp_path / 'config.yaml'}: "
    assert (
        prefix + "unknown provider 'anthropc'; did you mean 'anthropic'? "
        "configured providers: openai, anthropic"
    ) == str(close.value)
    assert prefix + "unknown provider 'zzz'; configured providers: openai, anthropic" == str(
        far.value
    )


# --------------------------------------------------------------------------- secrets


def secret_config() -> OrchestratorConfig:
    return OrchestratorConfig.from_dict(
        base(
            providers={
                "openai": {
                    "api_key": SECRET,
                    "headers": {"Authorization": f"Bearer {SECRET}", "X-Title": "demo"},
                },
                "bedrock": {"aws_secret_access_key": SECRET, "aws_session_token": SECRET},
                "mine": {"type": "pkg.mod:Cls", "access_token": SECRET, "region": "eu"},
            }
        ),
        source="config.yaml",
    )


def test_secrets_absent_from_repr_and_str() -> None:
    """repr() and str() of the config and its providers never show a secret."""
    config = secret_config()

    texts = [repr(config), str(config)]
    texts += [repr(p) for p in config.providers.values()]
    texts += [str(p) for p in config.providers.values()]

    assert [] == [text for text in texts if SECRET in text]
    assert "X-Title': 'demo'" in repr(config.providers["openai"])
    assert "region='eu'" in repr(config.providers["mine"])


def test_masked_shape_and_secrecy() -> None:
    """masked() is plain JSON data, source excluded, every secret shown as asterisks."""
    masked = secret_config().masked()

    assert SECRET not in json.dumps(masked)
    assert {
        "active_provider",
        "active_model",
        "providers",
        "cost_tracking",
        "budgets",
        "budgets_fail_open",
        "budget_reservation_ttl_s",
        "pricing",
        "pricing_file",
        "model_discovery",
        "http_transport",
    } == set(masked)
    openai = masked["providers"]["openai"]
    assert "**********" == openai["api_key"]
    assert {"Authorization": "**********", "X-Title": "demo"} == openai["headers"]
    assert ("**********", "**********", None) == (
        masked["providers"]["bedrock"]["aws_secret_access_key"],
        masked["providers"]["bedrock"]["aws_session_token"],
        masked["providers"]["bedrock"]["aws_access_key_id"],
    )
    assert "base_url" not in masked["providers"]["bedrock"]
    assert ("**********", "eu") == (
        masked["providers"]["mine"]["access_token"],
        masked["providers"]["mine"]["region"],
    )


@pytest.mark.parametrize(
    "provider_entry",
    [
        {"api_key": SECRET, "timeout": "abc"},
        {"api_key": [SECRET]},
        {"timeout": SECRET},
        {"headers": {"Authorization": [SECRET]}},
        {"base_url": f"ftp://user:{SECRET}@example.com"},
        {"api_key": SECRET, "timout": SECRET},
    ],
)
def test_secrets_absent_from_error_messages(provider_entry: dict[str, Any]) -> None:
    """A secret, even one given as the bad value, never appears in an error message."""
    with pytest.raises(ConfigurationError) as info:
        OrchestratorConfig.from_dict(base(providers={"openai": provider_entry}), source="c.yaml")

    assert SECRET not in str(info.value)
    assert str(info.value).startswith("c.yaml: providers.openai.")


def userinfo_config(monkeypatch: pytest.MonkeyPatch) -> OrchestratorConfig:
    """Credentials in the userinfo of every kind of URL setting (review 16)."""
    monkeypatch.setenv("LLMORCH_TEST_GW_PASSWORD", SECRET)
    return OrchestratorConfig.from_dict(
        base(
            providers={
                "openai": {
                    "api_key": "sk-x",
                    "base_url": "https://svc:${LLMORCH_TEST_GW_PASSWORD}@gateway.example/v1",
                },
                "bedrock": {
                    "endpoint_url": f"https://{SECRET}@runtime.example",
                    "control_endpoint_url": f"https://svc:{SECRET}@control.example:8443/c",
                },
                "mine": {
                    "type": "pkg.mod:Cls",
                    "mirrors": [f"https://u:{SECRET}@m.example"],
                    "by_region": {"eu": f"https://u:{SECRET}@[::1/v1", "us": "https://plain/@x"},
                },
            }
        )
    )


def test_review_16_url_userinfo_is_masked_in_masked_and_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """masked() (what `config check` prints) and repr() mask a URL's whole userinfo."""
    config = userinfo_config(monkeypatch)
    masked = config.masked()["providers"]
    texts = [json.dumps(masked), repr(config), str(config)]
    texts += [repr(p) for p in config.providers.values()]

    assert [] == [text for text in texts if SECRET in text or "svc" in text]
    assert "https://**********@gateway.example/v1" == masked["openai"]["base_url"]
    assert "https://**********@runtime.example" == masked["bedrock"]["endpoint_url"]
    assert (
        "https://**********@control.example:8443/c" == (masked["bedrock"]["control_endpoint_url"])
    )
    assert ["https://**********@m.example"] == masked["mine"]["mirrors"]
    assert {"eu": "https://**********@[::1/v1", "us": "https://plain/@x"} == (
        masked["mine"]["by_region"]
    )
    assert "base_url='https://**********@gateway.example/v1'" in repr(config.providers["openai"])
    # The settings themselves keep the credentials: the adapter needs them.
    assert SECRET in (config.providers["openai"].base_url or "")


def test_review_16_secrets_lists_every_configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """secrets() returns what a scrubber must remove: keys, AWS secrets, secret-looking headers
    and extra keys, and URL userinfo (whole, password, lone user; percent-decoded too)."""
    monkeypatch.setenv("LLMORCH_TEST_GW_PASSWORD", "p%40ss-word")
    config = OrchestratorConfig.from_dict(
        base(
            providers={
                "openai": {
                    "api_key": "sk-openai-1",
                    "base_url": "https://svc:${LLMORCH_TEST_GW_PASSWORD}@gateway.example/v1",
                    "headers": {"X-Api-Key": "hk-header-1", "X-Title": "demo"},
                },
                "bedrock": {
                    "aws_access_key_id": "AKIDEXAMPLE",
                    "aws_secret_access_key": "aws-secret-1",
                    "aws_session_token": "aws-token-1",
                    "endpoint_url": "https://tok-user-1@runtime.example",
                },
                "mine": {
                    "type": "pkg.mod:Cls",
                    "access_token": "tok-extra-1",
                    "region": "eu",
                    "mirrors": ["https://u:pw-list-1@m.example"],
                },
                "plain": {"type": "openai", "api_key": ""},
            }
        )
    )
    openai = config.providers["openai"].secrets()

    assert [
        "svc:p%40ss-word",
        "svc:p@ss-word",
        "hk-header-1",
        "p%40ss-word",
        "sk-openai-1",
        "p@ss-word",
    ] == openai
    assert {"AKIDEXAMPLE", "aws-secret-1", "aws-token-1", "tok-user-1"} == set(
        config.providers["bedrock"].secrets()
    )
    assert ["tok-extra-1", "u:pw-list-1", "pw-list-1"] == config.providers["mine"].secrets()
    assert [] == config.providers["plain"].secrets()
    everything = config.secrets()
    assert set(everything) == {
        *openai,
        "AKIDEXAMPLE",
        "aws-secret-1",
        "aws-token-1",
        "tok-user-1",
        "tok-extra-1",
        "u:pw-list-1",
        "pw-list-1",
    }
    assert [len(text) for text in everything] == sorted((len(t) for t in everything), reverse=True)


def test_newcomer_3_unset_variables_lists_every_providers_unset_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """unset_variables() names each unset ${VAR} of a (non-active) provider by key path."""
    config = OrchestratorConfig.from_dict(
        base(
            providers={
                "openai": {"api_key": SECRET},
                "anthropic": {"api_key": "${LLMORCH_TEST_UNSET}"},
                "bedrock": {
                    "aws_secret_access_key": "${LLMORCH_TEST_UNSET}${LLMORCH_TEST_EMPTY}",
                    "aws_session_token": "${LLMORCH_TEST_EMPTY:-none}",
                },
            }
        )
    )

    assert {
        "providers.anthropic.api_key": "LLMORCH_TEST_UNSET",
        "providers.bedrock.aws_secret_access_key": "LLMORCH_TEST_UNSET, LLMORCH_TEST_EMPTY",
    } == config.unset_variables()


# --------------------------------------------------------------------------- model discovery


def test_cache_path_defaults_under_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not given, cache_path is $XDG_CACHE_HOME/llmorch/models.json."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    config = load(tmp_path, MINIMAL)

    assert str(tmp_path / "cache" / "llmorch" / "models.json") == config.model_discovery.cache_path


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_cache_path_falls_back_to_home_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None
) -> None:
    """Without a usable (absolute) XDG_CACHE_HOME, cache_path is under ~/.cache."""
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)

    assert str(tmp_path / ".cache" / "llmorch" / "models.json") == (
        ModelDiscoveryConfig().cache_path
    )


def test_cache_path_explicit_null_means_memory_only(tmp_path: Path) -> None:
    """`cache_path: null` is kept as None (memory only); an explicit path is kept."""
    memory = load(tmp_path, MINIMAL + "model_discovery:\n  cache_path: null\n")
    explicit = load(tmp_path, MINIMAL + "model_discovery:\n  cache_path: ./m.json\n")

    assert memory.model_discovery.cache_path is None
    assert "./m.json" == explicit.model_discovery.cache_path


# --------------------------------------------------------------------------- repo config.yaml


def test_repository_config_yaml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example config.yaml loads with only OPENAI_API_KEY set."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    config = ConfigManager.load_config(REPO_ROOT / "config.yaml")

    assert ("openai", "gpt-5.4-mini") == (config.active_provider, config.active_model)
    assert ["openai", "anthropic", "gemini", "vertex", "bedrock"] == list(config.providers)
    assert "my-gcp-project" == config.providers["vertex"].project_id  # type: ignore[union-attr]
    assert "us-east-1" == config.providers["bedrock"].region_name  # type: ignore[union-attr]
    assert "us.anthropic.claude-haiku-5-5" in (config.providers["bedrock"].fallback_models)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY is not set"):
        config.require_provider("anthropic")
    assert config.require_provider("vertex") is config.providers["vertex"]
