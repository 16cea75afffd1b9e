"""What ``generateContent`` accepts on the Gemini API and Vertex AI, and how Google words a refusal.

The declared fields are REST ``GenerateContentRequest``'s, as google-genai 3.6 writes them (its
request converters for each API, and the fields of ``types.GenerationConfig``, ``Content``,
``Part``, ``Blob``, ``FileData``, ``FunctionCall``, ``FunctionResponse``, ``SafetySetting`` and
``ThinkingConfig``). Google's JSON parser takes each field by its JSON name (lowerCamelCase) or
its proto name (snake_case), and numbers written as strings. Ranges are the API reference's:
``temperature`` 0–2, ``topP`` 0–1, ``maxOutputTokens`` 1–65536 (the emulated models' limit).

The wording is Google's (quoted in issue trackers): ``Invalid JSON payload received. Unknown name
"foo" at 'generation_config': Cannot find field.`` with a ``google.rpc.BadRequest`` field
violation (no ``at …`` and no ``field`` at the top level), ``Invalid value at
'generation_config.temperature' (TYPE_FLOAT), "hot"`` for a wrong type, ``Unable to submit request
because it has a topK value of 50 but the supported range is from 1 (inclusive) to 41
(exclusive). Update the value and try again.`` for a range, and ``Please use a valid role: user,
model.`` for an unknown role.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmorch.testing._strict import ANY, Arr, Obj, Path, Problem, Scalar, Spec, validate

__all__ = ["GEMINI_REQUEST", "ROLES", "VERTEX_REQUEST", "check", "problem_error"]

_SNAKE = re.compile(r"(?<!^)([A-Z])")


def _snake(name: str) -> str:
    return _SNAKE.sub(r"_\1", name).lower()


def _message(proto: str, fields: dict[str, Spec], required: frozenset[str] = frozenset()) -> Obj:
    """A proto message: each field under its JSON name and its proto (snake_case) name."""
    both = {**fields, **{_snake(k): v for k, v in fields.items()}}
    return Obj(both, required | {_snake(k) for k in required}, proto=proto)


_STRING = Scalar("string", proto="TYPE_STRING")
_BOOL = Scalar("boolean", proto="TYPE_BOOL")
_INT = Scalar("integer", proto="TYPE_INT32")
_FLOAT = Scalar("number", proto="TYPE_FLOAT")

_PART = _message(
    "Part",
    {
        "text": _STRING,
        "inlineData": _message(
            "Blob", {"mimeType": _STRING, "data": _STRING, "displayName": _STRING}
        ),
        "fileData": _message(
            "FileData", {"mimeType": _STRING, "fileUri": _STRING, "displayName": _STRING}
        ),
        "functionCall": _message(
            "FunctionCall",
            {
                "id": _STRING,
                "name": _STRING,
                "args": ANY,
                "partialArgs": ANY,
                "willContinue": _BOOL,
            },
        ),
        "functionResponse": _message(
            "FunctionResponse",
            {
                "id": _STRING,
                "name": _STRING,
                "response": ANY,
                "parts": ANY,
                "scheduling": ANY,
                "willContinue": _BOOL,
            },
        ),
        "thought": _BOOL,
        "thoughtSignature": _STRING,
        **dict.fromkeys(
            (
                "audioMetadata",
                "audioTranscription",
                "codeExecutionResult",
                "documentMetadata",
                "executableCode",
                "mediaProcessing",
                "mediaResolution",
                "partMetadata",
                "speechMetadata",
                "spreadsheetMetadata",
                "toolCall",
                "toolResponse",
                "videoMetadata",
            ),
            ANY,
        ),
    },
)
ROLES = ("user", "model")
"""The roles a turn in ``contents`` may have."""

_CONTENT = _message("Content", {"role": _STRING, "parts": Arr(_PART)})
_TURN = _message(
    "Content", {"role": Scalar("string", choices=ROLES, proto="TYPE_STRING"), "parts": Arr(_PART)}
)
_GENERATION_CONFIG = _message(
    "GenerationConfig",
    {
        "temperature": Scalar("number", minimum=0, maximum=2, proto="TYPE_FLOAT"),
        "topP": Scalar("number", minimum=0, maximum=1, proto="TYPE_FLOAT"),
        "topK": _INT,
        "maxOutputTokens": Scalar("integer", minimum=1, maximum=65536, proto="TYPE_INT32"),
        "candidateCount": _INT,
        "stopSequences": Arr(_STRING),
        "presencePenalty": _FLOAT,
        "frequencyPenalty": _FLOAT,
        "seed": _INT,
        "logprobs": _INT,
        "responseLogprobs": _BOOL,
        "responseMimeType": _STRING,
        "thinkingConfig": _message(
            "ThinkingConfig",
            {"includeThoughts": _BOOL, "thinkingBudget": _INT, "thinkingLevel": ANY},
        ),
        "audioTimestamp": _BOOL,
        "enableAffectiveDialog": _BOOL,
        "enableEnhancedCivicAnswers": _BOOL,
        **dict.fromkeys(
            (
                "audioTranscriptionConfig",
                "imageConfig",
                "mediaResolution",
                "modelSelectionConfig",
                "responseFormat",
                "responseJsonSchema",
                "responseModalities",
                "responseSchema",
                "routingConfig",
                "speechConfig",
                "translationConfig",
            ),
            ANY,
        ),
    },
)
_SAFETY = _message("SafetySetting", {"category": ANY, "threshold": ANY, "method": ANY})
_COMMON: dict[str, Spec] = {
    "contents": Arr(_TURN, min_items=1),
    "systemInstruction": _CONTENT,
    "generationConfig": _GENERATION_CONFIG,
    "safetySettings": Arr(_SAFETY),
    "tools": Arr(ANY),
    "toolConfig": ANY,
    "cachedContent": _STRING,
    "labels": ANY,
    "serviceTier": ANY,
    "continuationToken": ANY,
    "model": _STRING,
}
GEMINI_REQUEST = _message(
    "GenerateContentRequest", {**_COMMON, "store": _BOOL}, frozenset({"contents"})
)
"""The Gemini API's ``models/{model}:generateContent`` (and ``:streamGenerateContent``) body."""
VERTEX_REQUEST = _message(
    "GenerateContentRequest", {**_COMMON, "modelArmorConfig": ANY}, frozenset({"contents"})
)
"""Vertex AI's ``publishers/google/models/{model}:generateContent`` body."""

_CAMEL = re.compile(r"_([a-z])")


def _proto_path(path: Path) -> str:
    """A path as Google's errors write it: ``contents[0].parts[1].inline_data``."""
    out = ""
    for step in path:
        out += (
            f"[{step}]" if isinstance(step, int) else (f".{_snake(step)}" if out else _snake(step))
        )
    return out


def _type_name(spec: Spec | None, package: str) -> str:
    if isinstance(spec, Scalar):
        return spec.proto or "TYPE_STRING"
    if isinstance(spec, Arr):
        return _type_name(spec.items, package)
    name = spec.proto if isinstance(spec, Obj) else "Struct"
    return f"type.googleapis.com/{package}.{name}"


def problem_error(problem: Problem, package: str) -> tuple[str, list[dict[str, Any]]]:
    """Google's wording for a problem.

    Args:
        problem: What :func:`validate` found.
        package: The API's proto package (``google.ai.generativelanguage.v1beta``, …).

    Returns:
        ``(message, details)``.
    """
    if problem.kind in ("missing", "short") and problem.path == ("contents",):
        return "* GenerateContentRequest.contents: contents is not specified", []
    if problem.kind == "choice" and problem.path[-1] == "role":
        return f"Please use a valid role: {', '.join(ROLES)}.", []
    if problem.kind == "range":
        assert isinstance(problem.spec, Scalar)
        low, high = problem.spec.minimum or 0, problem.spec.maximum or 0
        top = f"{high + 1:g}" if problem.spec.kind == "integer" else f"{high + 0.0001:g}"
        name = _CAMEL.sub(lambda m: m.group(1).upper(), str(problem.path[-1]))
        message = (
            f"Unable to submit request because it has a {name} value of {problem.value} but "
            f"the supported range is from {low:g} (inclusive) to {top} (exclusive). Update the "
            "value and try again."
        )
        return message, []
    parent = _proto_path(problem.path[:-1])
    field = _proto_path(problem.path)
    if problem.kind == "unknown" or (
        problem.kind == "type" and problem.expected != "array" and isinstance(problem.value, list)
    ):
        reason = (
            "Cannot find field."
            if problem.kind == "unknown"
            else ("Proto field is not repeating, cannot start list.")
        )
        at = f" at '{parent}'" if parent else ""
        message = f'Invalid JSON payload received. Unknown name "{problem.path[-1]}"{at}: {reason}'
        violation: dict[str, str] = {"field": parent} if parent else {}
    else:
        rendered = json.dumps(problem.value)
        message = f"Invalid value at '{field}' ({_type_name(problem.spec, package)}), {rendered}"
        violation = {"field": field}
    violation["description"] = message
    details = [
        {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
    ]
    return message, details


def check(body: Any, schema: Obj, package: str) -> tuple[str, list[dict[str, Any]]] | None:
    """Validate a ``generateContent`` body.

    Args:
        body: The decoded JSON body.
        schema: :data:`GEMINI_REQUEST` or :data:`VERTEX_REQUEST`.
        package: The API's proto package, for the type names quoted.

    Returns:
        ``(message, details)`` of the refusal, or ``None`` when the body is valid.
    """
    problem = validate(body, schema, numeric_strings=True)
    return None if problem is None else problem_error(problem, package)
