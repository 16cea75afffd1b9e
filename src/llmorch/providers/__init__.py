"""Provider adapters, looked up by type name and imported only when a config uses them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from llmorch.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmorch.providers.base import BaseLLMProvider

__all__ = ["BUILTIN_TYPES", "load_provider_class"]

BUILTIN_TYPES: dict[str, str] = {
    "openai": "llmorch.providers.openai:OpenAIProvider",
    "anthropic": "llmorch.providers.anthropic:AnthropicProvider",
    "gemini": "llmorch.providers.gemini:GeminiProvider",
    "vertex": "llmorch.providers.vertex:VertexProvider",
    "bedrock": "llmorch.providers.bedrock:BedrockProvider",
}
"""Built-in provider types and the class implementing each (module imported on first use)."""


def load_provider_class(type_name: str) -> type[BaseLLMProvider]:
    """Import the adapter class for a provider type.

    Args:
        type_name: A built-in type (``openai``, ``anthropic``, …) or ``"package.module:Class"``.

    Returns:
        The adapter class.

    Raises:
        ConfigurationError: Unknown type, unimportable module, or not a ``BaseLLMProvider``.
    """
    from llmorch.providers.base import BaseLLMProvider

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
