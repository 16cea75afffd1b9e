"""What each model accepts: the dated capability table shipped with llmorch (SPEC §2.10).

The table (``llmorch/data/capabilities.yaml``) is read on first use. A fact it does not hold is
``None`` (unknown), and unknown is never refused: the table only decides *how* to send what a
call asks for (e.g. which reasoning control a model takes), never gates a model it does not know.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml

__all__ = ["Capabilities", "ReasoningControl", "capabilities"]

ReasoningControl = Literal["effort", "adaptive", "budget", "level", "none"]
_GEO = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.")


@dataclass(frozen=True)
class Capabilities:
    """What one model accepts, as far as the table knows.

    Attributes:
        reasoning: The kind of reasoning control (``None``: unknown).
        forced_tool_choice_with_reasoning: Whether a forced ``tool_choice`` is accepted while
            reasoning is on (``None``: unknown).
        parallel_tool_calls: Whether the API has a switch for parallel tool calls.
        max_output_tokens: The output-token ceiling.
        source: Where the row's facts come from.
    """

    reasoning: ReasoningControl | None = None
    forced_tool_choice_with_reasoning: bool | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    source: str | None = None


_UNKNOWN = Capabilities()
_FIELDS = ("reasoning", "forced_tool_choice_with_reasoning", "parallel_tool_calls")


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[tuple[frozenset[str], tuple[str, ...], Capabilities], ...]:
    text = resources.files("llmorch").joinpath("data/capabilities.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    rows = []
    for row in data["models"]:
        types = row["provider_type"]
        kinds = frozenset([types] if isinstance(types, str) else types)
        facts = {key: row[key] for key in _FIELDS if key in row}
        caps = Capabilities(
            **facts, max_output_tokens=row.get("max_output_tokens"), source=row.get("source")
        )
        rows.append((kinds, tuple(row["patterns"]), caps))
    return tuple(rows)


@functools.lru_cache(maxsize=512)
def capabilities(provider_type: str, model: str) -> Capabilities:
    """Look up what a model accepts.

    Args:
        provider_type: The provider type (``openai``, ``anthropic``, ``gemini``, ``vertex``,
            ``bedrock``).
        model: The model id (a Bedrock geo or ``global.`` prefix is ignored).

    Returns:
        The first matching row's facts, or all-unknown when no row matches.
    """
    bare = _GEO.sub("", model)
    for kinds, patterns, caps in _rows():
        if provider_type in kinds and any(fnmatch.fnmatchcase(bare, p) for p in patterns):
            return caps
    return _UNKNOWN
