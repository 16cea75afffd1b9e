"""What Anthropic's Messages endpoint accepts, per API version, and how it words a refusal.

The declared fields are the official SDK's request types for each ``anthropic-version``:
anthropic-sdk-python 0.121 (the last release sending ``2023-06-01``) and 2.14 (which sends
``2026-10-21``, the version that dropped ``temperature``, ``top_p`` and ``top_k``): the top-level
``MessageCreateParams`` keys plus ``stream``, ``MessageParam`` (roles ``user``, ``assistant``,
``system``) and every ``ContentBlockParam`` variant with its keys. On Vertex AI the body carries
``anthropic_version`` and no ``model``. Ranges are the API reference's: ``temperature`` and
``top_p`` 0–1, ``max_tokens`` at least 1.

The wording is the API's pydantic validation (quoted in issue trackers): a dotted location whose
content-block steps name the block type (``messages.0.content.1.tool_use.text: Extra inputs are
not permitted``), ``max_tokens: Field required``, ``<field>: range: 0..1`` for a sampling
parameter out of range (recorded as ``top_p: range: -1 or 0..1`` before the API stopped taking
-1), and ``messages: Unexpected role "ai". Allowed roles are …`` for an unknown role. Tagged
unions name their variant the same way: ``thinking.enabled.budget_tokens: Input should be greater
than or equal to 1024`` (a live 400 quoted in themaximalist/llm.js#30), ``tool_choice.tool.name``,
and ``tools.0.custom.input_schema`` for a custom tool (``type`` absent or ``custom``; server
tools are declared but not checked further). The tool, tool-choice and thinking shapes are the
SDK's ``ToolParam``, ``ToolChoiceParam``, ``ThinkingConfigParam`` and ``OutputConfigParam``.
What a well-shaped body can still break (tool turns, signatures, thinking settings) is checked
by :mod:`llmorch.testing._anthropic_rules`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from llmorch.testing import _anthropic_rules as rules
from llmorch.testing._strict import ANY, Arr, Either, Obj, Path, Problem, Scalar, Tagged, validate

__all__ = [
    "CUSTOM_TOOL",
    "LATEST_VERSION",
    "SERVER_TOOL_TYPES",
    "VERSIONS",
    "check",
    "problem_message",
    "request_schema",
]

LATEST_VERSION = "2026-10-21"
VERSIONS = ("2023-06-01", LATEST_VERSION)
"""The ``anthropic-version`` values the emulator knows (other dated values read as the first)."""

_STRING = Scalar("string")
_UNIT = Scalar("number", minimum=0, maximum=1)
_ROLES = ("user", "assistant", "system")


# CacheControlEphemeralParam: type "ephemeral", ttl "5m" (the default) or "1h".
CACHE_CONTROL = Obj(
    {
        "type": Scalar("string", choices=("ephemeral",)),
        "ttl": Scalar("string", choices=("5m", "1h")),
    },
    frozenset({"type"}),
)


def _block(keys: Collection[str], required: Collection[str], **checked: Any) -> Obj:
    """A content block: its keys unchecked unless given, ``cache_control`` always checked."""
    checked.setdefault("cache_control", CACHE_CONTROL)
    return Obj(
        {key: checked.get(key, ANY) for key in ("type", *keys)},
        frozenset({"type", *required}),
    )


IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
"""Base64ImageSourceParam's ``media_type`` values, in the SDK's (and the 400's) order."""


def _source(**fields: Any) -> Obj:
    return Obj({"type": _STRING, **fields}, frozenset({"type", *fields}))


# Base64ImageSourceParam | URLImageSourceParam | FileImageSourceParam.
_IMAGE_SOURCE = Tagged(
    "type",
    {
        "base64": _source(media_type=Scalar("string", choices=IMAGE_TYPES), data=_STRING),
        "url": _source(url=_STRING),
        "file": _source(file_id=_STRING),
    },
)
# Base64PDFSourceParam | PlainTextSourceParam | ContentBlockSourceParam | URLPDFSourceParam |
# FileDocumentSourceParam.
_DOCUMENT_SOURCE = Tagged(
    "type",
    {
        "base64": _source(media_type=Scalar("string", choices=("application/pdf",)), data=_STRING),
        "text": _source(media_type=Scalar("string", choices=("text/plain",)), data=_STRING),
        "content": _source(content=ANY),
        "url": _source(url=_STRING),
        "file": _source(file_id=_STRING),
    },
)
_TEXT = _block(("text", "cache_control", "citations"), ("text",), text=_STRING)
_DOCUMENT = _block(
    ("cache_control", "citations", "context", "source", "title"),
    ("source",),
    source=_DOCUMENT_SOURCE,
)
_SEARCH_RESULT = _block(
    ("cache_control", "citations", "content", "source", "title"),
    ("content", "source", "title"),
)
_TOOL_REFERENCE = _block(("cache_control", "tool_name"), ("tool_name",))


def _tool_result(keys: Collection[str], image: Obj, **more: Obj) -> Obj:
    """ToolResultBlockParam: ``content`` a string or text, image, document, … blocks."""
    kinds = {"text": _TEXT, "image": image, "document": _DOCUMENT}
    kinds |= {"search_result": _SEARCH_RESULT, "tool_reference": _TOOL_REFERENCE, **more}
    content = Either((_STRING, Arr(Tagged("type", kinds))))
    return _block(keys, ("tool_use_id",), content=content)


_IMAGE = {
    "2023-06-01": _block(("cache_control", "source"), ("source",), source=_IMAGE_SOURCE),
    LATEST_VERSION: _block(
        ("cache_control", "source", "transformations"), ("source",), source=_IMAGE_SOURCE
    ),
}
_RESULT = ("cache_control", "content", "tool_use_id")
_COMMON_BLOCKS: dict[str, Obj] = {
    "text": _TEXT,
    "document": _DOCUMENT,
    "search_result": _SEARCH_RESULT,
    "thinking": _block(("signature", "thinking"), ("signature", "thinking")),
    "redacted_thinking": _block(("data",), ("data",)),
    "server_tool_use": _block(
        ("cache_control", "caller", "id", "input", "name"), ("id", "input", "name")
    ),
    "web_search_tool_result": _block((*_RESULT, "caller"), ("content", "tool_use_id")),
    "web_fetch_tool_result": _block((*_RESULT, "caller"), ("content", "tool_use_id")),
    "code_execution_tool_result": _block(_RESULT, ("content", "tool_use_id")),
    "bash_code_execution_tool_result": _block(_RESULT, ("content", "tool_use_id")),
    "text_editor_code_execution_tool_result": _block(_RESULT, ("content", "tool_use_id")),
    "tool_search_tool_result": _block(_RESULT, ("content", "tool_use_id")),
    "container_upload": _block(("cache_control", "file_id"), ("file_id",)),
}
_BLOCKS = {
    "2023-06-01": {
        **_COMMON_BLOCKS,
        "image": _IMAGE["2023-06-01"],
        "tool_use": _block(
            ("cache_control", "caller", "id", "input", "name"), ("id", "input", "name")
        ),
        "tool_result": _tool_result(
            ("cache_control", "content", "is_error", "tool_use_id"), _IMAGE["2023-06-01"]
        ),
        "mid_conv_system": _block(("cache_control", "content"), ("content",)),
    },
    LATEST_VERSION: {
        **_COMMON_BLOCKS,
        "image": _IMAGE[LATEST_VERSION],
        "tool_use": _block(
            ("cache_control", "caller", "id", "input", "name", "toolset_name"),
            ("id", "input", "name"),
        ),
        "tool_result": _tool_result(
            ("cache_control", "content", "is_error", "tool_use_id", "toolset_name"),
            _IMAGE[LATEST_VERSION],
            browser_state=_block(("cache_control", "state_changes", "tabs"), ("tabs",)),
        ),
    },
}
_TOP = {
    "2023-06-01": (
        "cache_control",
        "container",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "temperature",
        "thinking",
        "tool_choice",
        "tools",
        "top_k",
        "top_p",
        "user_profile_id",
    ),
    LATEST_VERSION: (
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "thinking",
        "tool_choice",
        "tools",
        "user_profile_id",
        "workspace_id",
    ),
}
_BOOL = Scalar("boolean")
_PARALLEL = {"disable_parallel_tool_use": _BOOL}
# ToolChoiceParam: auto | any | tool | none (tool_choice_*_param.py); only auto, any and tool
# take ``disable_parallel_tool_use``.
_TOOL_CHOICE = Tagged(
    "type",
    {
        "auto": Obj({"type": _STRING, **_PARALLEL}, frozenset({"type"})),
        "any": Obj({"type": _STRING, **_PARALLEL}, frozenset({"type"})),
        "tool": Obj({"type": _STRING, "name": _STRING, **_PARALLEL}, frozenset({"type", "name"})),
        "none": Obj({"type": _STRING}, frozenset({"type"})),
    },
)
# ThinkingConfigParam: enabled (budget_tokens "must be >=1024 and less than max_tokens"),
# disabled, between_tools, adaptive; ``display`` is summarized | omitted.
_DISPLAY = Scalar("string", choices=("summarized", "omitted"))
_THINKING = Tagged(
    "type",
    {
        "enabled": Obj(
            {
                "type": _STRING,
                "budget_tokens": Scalar("integer", minimum=1024),
                "display": _DISPLAY,
            },
            frozenset({"type", "budget_tokens"}),
        ),
        "adaptive": Obj({"type": _STRING, "display": _DISPLAY}, frozenset({"type"})),
        "disabled": Obj({"type": _STRING}, frozenset({"type"})),
        "between_tools": Obj({"type": _STRING}, frozenset({"type"})),
    },
)
# OutputConfigParam: effort low | medium | high | xhigh | max; format (structured output).
# ``format`` is JSONOutputFormatParam: type "json_schema" and a JSON Schema (what Anthropic takes
# of JSON Schema is checked by :mod:`llmorch.testing._anthropic_output`).
_FORMAT = Tagged(
    "type", {"json_schema": Obj({"type": _STRING, "schema": ANY}, frozenset({"type", "schema"}))}
)
_OUTPUT_CONFIG = Obj(
    {
        "effort": Scalar("string", choices=("low", "medium", "high", "xhigh", "max")),
        "format": _FORMAT,
    }
)
# ToolParam (a custom tool: ``type`` absent or "custom"); server tools are declared, not checked.
_FREE_TOOL_FIELDS = (
    "allowed_callers",
    "cache_control",
    "defer_loading",
    "eager_input_streaming",
    "input_examples",
    "input_schema",
)
CUSTOM_TOOL = Obj(
    dict.fromkeys(_FREE_TOOL_FIELDS, ANY)
    | {"name": _STRING, "description": _STRING, "strict": _BOOL, "type": _STRING}
    | {"cache_control": CACHE_CONTROL},
    frozenset({"name", "input_schema"}),
)
SERVER_TOOL_TYPES = (
    "bash_20250124",
    "code_execution_20250522",
    "code_execution_20250825",
    "code_execution_20260120",
    "code_execution_20260521",
    "browser_toolset_20260801",
    "memory_20250818",
    "computer_toolset_20260801",
    "text_editor_20250124",
    "text_editor_20250429",
    "text_editor_20250728",
    "web_search_20250305",
    "web_fetch_20250910",
    "web_search_20260209",
    "web_fetch_20260209",
    "web_fetch_20260309",
    "web_search_20260318",
    "web_fetch_20260318",
    "tool_search_tool_bm25_20251119",
    "tool_search_tool_bm25",
    "tool_search_tool_regex_20251119",
    "tool_search_tool_regex",
)
"""The ``type`` of every server tool in the SDK's ``ToolUnionParam`` (2.15)."""
_TOOL_TAGS = Tagged("type", dict.fromkeys(("custom", *SERVER_TOOL_TYPES), CUSTOM_TOOL))
_CHECKED: dict[str, Any] = {
    "max_tokens": Scalar("integer", minimum=1),
    "stop_sequences": Arr(_STRING),
    "stream": _BOOL,
    "temperature": _UNIT,
    "top_p": _UNIT,
    "top_k": Scalar("integer", minimum=0),
    "tools": Arr(ANY),
    "tool_choice": _TOOL_CHOICE,
    "thinking": _THINKING,
    "output_config": _OUTPUT_CONFIG,
    "cache_control": CACHE_CONTROL,
}


def _request(version: str, vertex: bool) -> Obj:
    content = Either((_STRING, Arr(Tagged("type", _BLOCKS[version]))))
    message = Obj({"role": _STRING, "content": content}, frozenset({"role", "content"}))
    fields: dict[str, Any] = {
        "anthropic_version" if vertex else "model": _STRING,
        "max_tokens": _CHECKED["max_tokens"],
        "messages": Arr(Tagged("role", dict.fromkeys(_ROLES, message)), min_items=1),
        "system": Either((_STRING, Arr(Tagged("type", {"text": _TEXT})))),
        "stop_sequences": _CHECKED["stop_sequences"],
        "stream": _CHECKED["stream"],
    }
    fields.update({key: _CHECKED.get(key, ANY) for key in _TOP[version]})
    required = {"anthropic_version" if vertex else "model", "max_tokens", "messages"}
    return Obj(fields, frozenset(required))


_REQUESTS = {(v, vertex): _request(v, vertex) for v in VERSIONS for vertex in (False, True)}

_TYPE_WORDS = {
    "string": "a valid string",
    "integer": "a valid integer",
    "number": "a valid number",
    "boolean": "a valid boolean",
    "array": "a valid list",
    "object": "a valid dictionary",
}


def request_schema(version: str, *, vertex: bool = False) -> Obj:
    """The request schema for an API version (unknown dated versions read as ``2023-06-01``).

    Args:
        version: The ``anthropic-version`` header (or Vertex's ``anthropic_version``).
        vertex: Claude on Vertex AI (``anthropic_version`` in the body, no ``model``).

    Returns:
        The schema.
    """
    known = LATEST_VERSION if version.removeprefix("vertex-") == LATEST_VERSION else VERSIONS[0]
    return _REQUESTS[(known, vertex)]


_UNIONS = ("thinking", "tool_choice")
"""Top-level fields that are tagged unions (pydantic names the variant in a location)."""


def _variant(path: Path, i: int, node: Any) -> str | None:
    """The union variant pydantic names after step ``i`` of a location, if any."""
    if not isinstance(node, dict) or i == len(path) - 1 or path[i + 1] == "type":
        return None
    step = path[i]
    if i == 1 and path[0] == "tools":
        return "custom"  # only custom tools are checked field by field
    # Content blocks are a union (system blocks are not), as are thinking, tool_choice and an
    # image's or a document's source (``image.source.base64.media_type``).
    in_content = isinstance(step, int) and i >= 2 and path[i - 1] == "content"
    if in_content or step == "source" or (i == 0 and step in _UNIONS):
        kind = node.get("type")
        return kind if isinstance(kind, str) else None
    return None


def _location(body: Any, path: Path) -> str:
    """Pydantic's dotted location, with a union's variant after its step (content blocks)."""
    steps: list[str] = []
    node = body
    for i, step in enumerate(path):
        steps.append(str(step))
        node = _child(node, step)
        variant = _variant(path, i, node)
        if variant is not None:
            steps.append(variant)
    return ".".join(steps)


def _child(node: Any, step: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
        return node[step]
    return None


def problem_message(body: Any, problem: Problem) -> str:
    """Anthropic's wording for a problem.

    Args:
        body: The request body (content block types name the location's steps).
        problem: What :func:`validate` found.

    Returns:
        The ``error.message``.
    """
    where = _location(body, problem.path)
    if problem.kind == "unknown":
        return f"{where}: Extra inputs are not permitted"
    if problem.kind == "missing" or (problem.kind == "tag" and problem.value is None):
        return f"{where}: Field required"
    if problem.kind == "short":
        return "messages: at least one message is required"
    if problem.kind == "tag" and problem.path[-1] == "role":
        allowed = ", ".join(f'"{r}"' for r in _ROLES[:-1]) + f' or "{_ROLES[-1]}"'
        return f"messages: Unexpected role {json.dumps(problem.value)}. Allowed roles are {allowed}"
    if problem.kind == "tag":
        assert isinstance(problem.spec, Tagged)
        tags = ", ".join(f"'{t}'" for t in problem.spec.variants)
        owner = _location(body, problem.path[:-1])
        return (
            f"{owner}: Input tag '{problem.value}' found using 'type' does not match "
            f"any of the expected tags: {tags}"
        )
    if problem.kind == "range":
        assert isinstance(problem.spec, Scalar)
        if problem.spec.maximum is not None:
            return f"{where}: range: {problem.spec.minimum:g}..{problem.spec.maximum:g}"
        return f"{where}: Input should be greater than or equal to {problem.spec.minimum:g}"
    if problem.kind == "choice":
        assert isinstance(problem.spec, Scalar) and problem.spec.choices
        *rest, last = (f"'{c}'" for c in problem.spec.choices)
        return f"{where}: Input should be {', '.join(rest) + ' or ' if rest else ''}{last}"
    return f"{where}: Input should be {_TYPE_WORDS.get(problem.expected, 'a valid dictionary')}"


def _tools_problem(body: dict[str, Any]) -> Problem | None:
    """The first problem of a custom tool, or a tool ``type`` that names no tool at all."""
    for i, tool in enumerate(body.get("tools") or ()):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in (None, "custom"):
            problem = validate(tool, CUSTOM_TOOL, ("tools", i))
        elif kind not in SERVER_TOOL_TYPES:
            problem = Problem("tag", ("tools", i, "type"), _TOOL_TAGS, kind)
        else:
            problem = None
        if problem is not None:
            return problem
    return None


def check(body: Any, version: str, *, model: str | None = None) -> str | None:
    """Validate a Messages request body: its shape, its custom tools, then the API's rules.

    Args:
        body: The decoded JSON body.
        version: The API version the request names.
        model: Claude on Vertex AI: the model of the path (the body has ``anthropic_version``
            and no ``model``); ``None`` for the Anthropic API (the body's ``model``).

    Returns:
        The refusal's message, or ``None`` when the body is valid.
    """
    vertex = model is not None
    problem = validate(body, request_schema(version, vertex=vertex)) or _tools_problem(body)
    if problem is not None:
        return problem_message(body, problem)
    return rules.problem(body, body["model"] if model is None else model, vertex=vertex)
