"""The adapter interface every provider implements."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, ClassVar

from llmorch.exceptions import (
    AuthenticationError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProviderError,
)
from llmorch.messages import ChatMessage, TextPart
from llmorch.request import ChatRequest

if TYPE_CHECKING:
    from llmorch._http import AsyncClient
    from llmorch.config import ProviderConfig
    from llmorch.types import LLMResponse, ModelInfo, StreamEvent

__all__ = ["BaseLLMProvider", "ping"]


def ping(model: str) -> ChatRequest:
    """The smallest real request: one word in, at most one token out.

    Args:
        model: The model id.

    Returns:
        The request.
    """
    return ChatRequest((ChatMessage("user", (TextPart("ping"),)),), model=model, max_tokens=1)


class BaseLLMProvider(abc.ABC):
    """One provider type: turns one request into one vendor call, and its answer into llmorch types.

    Adapters know nothing about fallback, retries, prices or the registry; the orchestrator owns
    those. They raise only :class:`~llmorch.exceptions.ProviderError` subclasses.

    Args:
        name: The configured provider name (the key under ``providers:``).
        config: That provider's validated configuration.
        http: The shared, pooled HTTP client. The adapter does not own it.
    """

    owned_fields: ClassVar[frozenset[str]] = frozenset()
    """Top-level body fields the adapter builds itself: a call may not set them (SPEC §2.9)."""

    def __init__(self, name: str, config: ProviderConfig, http: AsyncClient) -> None:
        self.name = name
        self.config = config
        self.http = http

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def secrets(self) -> list[str]:
        """The secret values this adapter sends (keys, tokens), to scrub from vendor echoes.

        Returns:
            The configured secrets; adapters add the ones they resolve at run time.
        """
        return self.config.secrets()

    @abc.abstractmethod
    async def send_request(self, request: ChatRequest) -> LLMResponse:
        """Send one chat request and return the full answer.

        Args:
            request: The validated, typed request; ``request.model`` is this attempt's model.

        Returns:
            The answer (text, tool calls, reasoning, usage); ``cost`` and ``attempts`` are
            filled in by the orchestrator.
        """

    @abc.abstractmethod
    def send_streaming_request(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat request as normalised events.

        The iterator is an async generator: closing it releases the connection. Usage is always
        requested from the vendor. Errors arriving inside the stream are raised mapped. Tool
        call fragments are reported keyed by the vendor's index (``tool_start``,
        ``tool_delta``, ``tool_end``); the orchestrator's accumulator merges them.

        Args:
            request: The validated, typed request; ``request.model`` is this attempt's model.

        Returns:
            An async iterator of :class:`~llmorch.types.StreamEvent`.
        """

    def unsupported_parameter(self, error: InvalidRequestError) -> str | None:
        """The parameter a vendor's 400 says the model does not take (SPEC §2.10's learned retry).

        Args:
            error: The mapped 400 (its ``body`` is the vendor's error body).

        Returns:
            The llmorch parameter name (``temperature``, ``top_p``, ``top_k``, ``seed``,
            ``stop``), or ``None`` when the error names none (the default).
        """
        return None

    @abc.abstractmethod
    async def get_available_models(self) -> list[ModelInfo]:
        """Ask the vendor for its chat-capable base models, following every page.

        Returns:
            One :class:`~llmorch.types.ModelInfo` per model (``raw`` holds the vendor's entry).
        """

    async def validate_model(self, model: str) -> bool:
        """Check that ``model`` answers, with the smallest real request.

        The call is billed; :meth:`llmorch.ModelRegistry.validate_model` records its cost.

        Args:
            model: The model id.

        Returns:
            True when the model answered, False when the vendor says it does not exist or
            rejects it for this account.

        Raises:
            AuthenticationError: The credentials are invalid (a model check cannot tell).
            ProviderError: A retryable failure (rate limit, outage): the answer is unknown.
        """
        try:
            await self.send_request(ping(model))
        except (ModelNotFoundError, PermissionDeniedError):
            return False
        except AuthenticationError:
            raise
        except ProviderError as exc:
            if exc.is_retryable:
                raise
            return False
        return True

    async def aclose(self) -> None:  # noqa: B027
        """Release what the adapter holds beyond the shared HTTP client (nothing by default)."""
