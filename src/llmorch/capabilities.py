"""What each model accepts: the dated capability table shipped with llmorch (SPEC §2.10).

The table (``llmorch/data/capabilities.yaml``) is read on first use. A fact it does not hold is
``None`` (unknown), and unknown is never refused: the table only decides *how* to send what a
call asks for (e.g. which reasoning control a model takes), never gates a model it does not know.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "Capabilities",
    "ReasoningControl",
    "as_of",
    "capabilities",
    "forget_learned",
    "learn",
    "learned",
]

ReasoningControl = Literal["effort", "adaptive", "budget", "level", "none"]
_GEO = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.")


@dataclass(frozen=True)
class Capabilities:
    """What one model accepts, as far as the table knows (``None``: unknown, assumed accepted).

    Attributes:
        reasoning: The kind of reasoning control.
        forced_tool_choice_with_reasoning: Whether a forced ``tool_choice`` is accepted while
            reasoning is on.
        forced_tool_choice: Whether a forced ``tool_choice`` is accepted at all (some models
            refuse it even without reasoning).
        parallel_tool_calls: Whether the API has a switch for parallel tool calls.
        max_output_tokens: The output-token ceiling.
        rejects: llmorch parameter names the model refuses (``temperature``, ``top_p``, ...).
        only_default: Parameters the model takes only at one value (``{"temperature": 1}``).
        structured_output: ``native`` (the vendor's schema mechanism) or ``tool`` (none: a
            forced tool carries the schema).
        json_schema_root: ``object`` when a non-object root must be wrapped, ``any`` when the
            native mechanism takes any root.
        image_input: Whether images are accepted.
        document_input: Whether documents are accepted.
        image_urls: Whether the vendor fetches https image URLs itself.
        tool_result_media: Whether tool results may carry images and documents.
        image_types: The image media types accepted.
        document_types: The document media types accepted.
        max_image_bytes: The largest image, in decoded bytes.
        max_document_bytes: The largest document, in decoded bytes.
        prompt_caching: ``explicit`` (``cache_control`` is sent), ``implicit`` (the vendor
            caches by itself) or ``none`` (the model has no prompt cache); for the last two,
            ``cache_control`` is ignored with a warning.
        source: Where the facts come from (each row's, joined).
    """

    reasoning: ReasoningControl | None = None
    forced_tool_choice_with_reasoning: bool | None = None
    forced_tool_choice: bool | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    rejects: frozenset[str] = frozenset()
    only_default: Mapping[str, float] = field(default_factory=dict)
    structured_output: Literal["native", "tool"] | None = None
    json_schema_root: Literal["object", "any"] | None = None
    image_input: bool | None = None
    document_input: bool | None = None
    image_urls: bool | None = None
    tool_result_media: bool | None = None
    image_types: tuple[str, ...] | None = None
    document_types: tuple[str, ...] | None = None
    max_image_bytes: int | None = None
    max_document_bytes: int | None = None
    prompt_caching: Literal["explicit", "implicit", "none"] | None = None
    source: str | None = None


_UNKNOWN = Capabilities()
_FIELDS = frozenset(f.name for f in fields(Capabilities)) - {"source"}
_TUPLES = ("image_types", "document_types")
Row = tuple[frozenset[str], tuple[str, ...], dict[str, Any]]


def _table() -> Any:
    """The shipped YAML table, parsed (yaml and importlib.resources imported only here)."""
    from importlib import resources

    import yaml

    text = resources.files("llmorch").joinpath("data/capabilities.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[Row, ...]:
    data: dict[str, Any] = _table()
    rows: list[Row] = []
    for row in data["models"]:
        types = row["provider_type"]
        kinds = frozenset([types] if isinstance(types, str) else types)
        unknown = set(row) - _FIELDS - {"provider_type", "patterns", "source"}
        if unknown:
            raise ValueError(f"capabilities.yaml: unknown keys {sorted(unknown)} in {row}")
        facts = {key: row[key] for key in _FIELDS if key in row}
        if "rejects" in facts:
            facts["rejects"] = frozenset(facts["rejects"])
        for key in _TUPLES:
            if key in facts:
                facts[key] = tuple(facts[key])
        if row.get("source"):
            facts["source"] = row["source"]
        rows.append((kinds, tuple(row["patterns"]), facts))
    return tuple(rows)


def as_of() -> str:
    """The date the table's facts were checked.

    Returns:
        ``YYYY-MM-DD``.
    """
    return str(_table()["as_of"])


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
    merged: dict[str, Any] = {}
    sources: list[str] = []
    for kinds, patterns, facts in _rows():
        if provider_type in kinds and any(fnmatch.fnmatchcase(bare, p) for p in patterns):
            for key, value in facts.items():
                if key == "source":
                    sources.append(value)
                else:
                    merged.setdefault(key, value)
    if not merged:
        return _UNKNOWN
    return Capabilities(**merged, source="; ".join(dict.fromkeys(sources)) or None)


_learned: dict[tuple[str, str], frozenset[str]] = {}
_learned_lock = threading.Lock()


def learn(provider_type: str, model: str, parameter: str) -> None:
    """Remember, for this process, that a model refused a parameter (its vendor said so).

    Args:
        provider_type: The provider type.
        model: The model id.
        parameter: The llmorch parameter name (``temperature``, ``top_p``, ...).
    """
    with _learned_lock:
        key = (provider_type, model)
        _learned[key] = _learned.get(key, frozenset()) | {parameter}


def learned(provider_type: str, model: str) -> frozenset[str]:
    """The parameters a model's vendor refused earlier in this process.

    Args:
        provider_type: The provider type.
        model: The model id.

    Returns:
        Their names (empty when none).
    """
    return _learned.get((provider_type, model), frozenset())


def forget_learned() -> None:
    """Forget every learned fact (for tests)."""
    with _learned_lock:
        _learned.clear()
