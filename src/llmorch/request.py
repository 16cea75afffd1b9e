"""The typed request an adapter receives: built and validated once per call (SPEC §2.1a, §2.9)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from llmorch._http import Timeout
from llmorch.exceptions import InvalidRequestError
from llmorch.messages import ChatMessage
from llmorch.tools import Tool, ToolChoice

if TYPE_CHECKING:
    from llmorch.output import OutputPlan, ResponseFormat

__all__ = [
    "CallOptions",
    "ChatRequest",
    "Effort",
    "Reasoning",
    "validate_reasoning",
    "validate_sampling",
]

Effort = Literal["none", "low", "medium", "high"]
_EFFORTS = ("none", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The per-call options of one request (SPEC §2.9), as an adapter applies them.

    Attributes:
        timeout: Overrides the provider's ``timeout`` for this call (seconds or httpx.Timeout).
        extra_body: Deep-merged into the vendor body (dicts merge, everything else replaces).
        extra_headers: Added to the request headers.
    """

    timeout: float | Timeout | None = None
    extra_body: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """Merge ``extra_body`` into a request body.

        Args:
            body: The body llmorch built (changed in place).

        Returns:
            The same body.
        """
        if self.extra_body:
            deep_merge(body, self.extra_body)
        return body


NO_OPTIONS = CallOptions()


def deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target``: nested dicts merge, any other value replaces.

    Args:
        target: The dict to change in place.
        extra: What to merge in.
    """
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            deep_merge(current, value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


@dataclass(frozen=True, slots=True)
class Reasoning:
    """How much the model should think.

    Attributes:
        effort: ``none``, ``low``, ``medium`` or ``high`` (``None`` when only a budget is given).
        budget_tokens: A thinking-token budget, for vendors and models that take one.
    """

    effort: Effort | None = None
    budget_tokens: int | None = None

    @property
    def enabled(self) -> bool:
        """False when reasoning is turned off (``effort == "none"`` or a zero budget)."""
        return self.effort != "none" and self.budget_tokens != 0


def validate_reasoning(value: object) -> Reasoning | None:
    """Normalise ``reasoning=``: an effort string or ``{"effort"?, "budget_tokens"?}``.

    Args:
        value: What the caller passed.

    Returns:
        The setting, or ``None`` when not given.

    Raises:
        InvalidRequestError: An unknown effort, a budget that is not a non-negative int, or
            unknown keys.
    """
    if value is None:
        return None
    if isinstance(value, Reasoning):
        return value
    if isinstance(value, str):
        if value not in _EFFORTS:
            raise InvalidRequestError(
                f"reasoning must be one of {', '.join(map(repr, _EFFORTS))} or a dict, "
                f"got {value!r}"
            )
        return Reasoning(value)  # type: ignore[arg-type]
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"reasoning must be a str or a dict, got {type(value).__name__}")
    extra = set(value) - {"effort", "budget_tokens"}
    if extra:
        raise InvalidRequestError(f"reasoning has unexpected keys: {sorted(extra)}")
    effort = value.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise InvalidRequestError(
            f"reasoning.effort must be one of {', '.join(map(repr, _EFFORTS))}, got {effort!r}"
        )
    budget = value.get("budget_tokens")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int) or budget < 0
    ):
        raise InvalidRequestError(f"reasoning.budget_tokens must be an int >= 0, got {budget!r}")
    if effort is None and budget is None:
        raise InvalidRequestError("reasoning needs 'effort' or 'budget_tokens'")
    return Reasoning(effort, budget)


def _number(name: str, value: object, low: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRequestError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise InvalidRequestError(f"{name} must be >= {low:g}, got {value!r}")
    return value


def _integer(name: str, value: object, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequestError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise InvalidRequestError(f"{name} must be >= {low}, got {value!r}")
    return value


def validate_sampling(
    temperature: object,
    max_tokens: object,
    top_p: object,
    top_k: object,
    stop: object,
    seed: object,
) -> tuple[float | None, int | None, float | None, int | None, tuple[str, ...] | None, int | None]:
    """Check the sampling parameters' types (each vendor checks its own ranges).

    Args:
        temperature: ``temperature=``.
        max_tokens: ``max_tokens=`` (>= 1).
        top_p: ``top_p=``.
        top_k: ``top_k=`` (>= 1).
        stop: ``stop=``: a str or a list of str.
        seed: ``seed=``.

    Returns:
        The values, ``stop`` as a tuple.

    Raises:
        InvalidRequestError: A value of the wrong type.
    """
    if stop is not None:
        if isinstance(stop, str):
            stop = (stop,)
        elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            stop = tuple(stop)
        else:
            raise InvalidRequestError("stop must be a str or a list of str")
    return (
        _number("temperature", temperature, 0),
        _integer("max_tokens", max_tokens, 1),
        _number("top_p", top_p, 0),
        _integer("top_k", top_k, 1),
        stop,
        _integer("seed", seed, -(2**63)),
    )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One validated call, as every adapter receives it.

    Attributes:
        messages: The typed turns.
        model: The model of this attempt (the orchestrator sets it per model of the chain).
        temperature: Sampling temperature (sent only when set).
        max_tokens: Output limit (sent only when set, unless the vendor requires one).
        top_p: Nucleus sampling.
        top_k: Top-k sampling (vendors without it refuse it before any call).
        stop: Stop sequences.
        seed: Sampling seed (vendors without it refuse it before any call).
        tools: The tools the model may call.
        tool_choice: Whether and which tool it must call.
        parallel_tool_calls: Allow (True) or forbid (False) several calls in one answer.
        reasoning: How much to think.
        options: ``timeout``, ``extra_body``, ``extra_headers``.
        response_format: The structured output the call asked for.
        output: How this attempt's model gets ``response_format`` (set per attempt; codecs
            encode mode ``native`` and ``json_object``; mode ``tool`` never reaches them).
        output_retries: How often to re-ask after an answer fails validation.
        warnings: What was removed from the call for this model, and why.
    """

    messages: tuple[ChatMessage, ...]
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning: Reasoning | None = None
    options: CallOptions = NO_OPTIONS
    response_format: ResponseFormat | None = None
    output: OutputPlan | None = None
    output_retries: int = 0
    warnings: tuple[str, ...] = ()

    def with_model(self, model: str) -> ChatRequest:
        """The same request for another model of the chain.

        Args:
            model: The model id.

        Returns:
            A copy with ``model`` set (this request itself when it is for that model already).
        """
        if model == self.model:
            return self
        return dataclasses.replace(self, model=model)

    @property
    def reasoning_on(self) -> bool:
        """True when the call asked for reasoning (and did not turn it off)."""
        return self.reasoning is not None and self.reasoning.enabled
