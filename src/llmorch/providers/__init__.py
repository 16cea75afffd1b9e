"""Provider adapters, looked up by type name and imported only when a config uses them."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from llmorch.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmorch.providers.base import BaseLLMProvider

__all__ = ["BUILTIN_TYPES", "EXTRAS", "load_provider_class", "missing_extra"]

BUILTIN_TYPES: dict[str, str] = {
    "openai": "llmorch.providers.openai:OpenAIProvider",
    "anthropic": "llmorch.providers.anthropic:AnthropicProvider",
    "gemini": "llmorch.providers.gemini:GeminiProvider",
    "vertex": "llmorch.providers.vertex:VertexProvider",
    "bedrock": "llmorch.providers.bedrock:BedrockProvider",
}
"""Built-in provider types and the class implementing each (module imported on first use)."""

EXTRAS: dict[str, tuple[str, str]] = {
    "vertex": ("google.auth", "google-auth"),
    "bedrock": ("botocore", "botocore"),
}
"""Provider types that need an extra: the module it provides and the package, by type (the
extra is named after the type: ``pip install 'llmorch[bedrock]'``)."""


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a blocked module
        return False


def missing_extra(type_name: str) -> str | None:
    """Tell what to install before a provider type can be used, without importing it.

    Args:
        type_name: A provider type (``openai``, ``bedrock``, …).

    Returns:
        ``None`` when the type needs no extra or its extra is installed; otherwise a sentence
        naming the missing package and the ``pip install 'llmorch[...]'`` command.
    """
    needed = EXTRAS.get(type_name)
    if needed is None or _importable(needed[0]):
        return None
    return (
        f"provider type {type_name!r} needs {needed[1]}, which is not installed: "
        f"run pip install 'llmorch[{type_name}]' (or 'llmorch[all]')"
    )


def load_provider_class(type_name: str) -> type[BaseLLMProvider]:
    """Import the adapter class for a provider type.

    Args:
        type_name: A built-in type (``openai``, ``anthropic``, …) or ``"package.module:Class"``.

    Returns:
        The adapter class.

    Raises:
        ConfigurationError: Unknown type, its extra not installed (the message names the
            ``pip install`` command), unimportable module, or not a ``BaseLLMProvider``.
    """
    from llmorch.providers.base import BaseLLMProvider

    hint = missing_extra(type_name)
    if hint is not None:
        raise ConfigurationError(hint)

    target = BUILTIN_TYPES.get(type_name, type_name)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"unknown provider type {type_name!r}: use one of {', '.join(sorted(BUILTIN_TYPES))} "
            "or 'package.module:ClassName'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"provider type {type_name!r}: cannot import {module_name!r}: {exc}"
        ) from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type) or not issubclass(cls, BaseLLMProvider):
        raise ConfigurationError(
            f"provider type {type_name!r}: {target} is not a BaseLLMProvider subclass"
        )
    return cls
