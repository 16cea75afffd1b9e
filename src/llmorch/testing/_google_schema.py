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

import base64
import binascii
import json
import re
from typing import Any

from llmorch.testing._google_common import gemini_version, is_gemini3, pick, refusal, snake
from llmorch.testing._signing import verify
from llmorch.testing._strict import ANY, Arr, Obj, Path, Problem, Scalar, Spec, validate

__all__ = [
    "GEMINI_REQUEST",
    "ROLES",
    "TEXT_SIGNATURE",
    "THOUGHT_SIGNATURE",
    "VERTEX_REQUEST",
    "call_signature_text",
    "check",
    "check_semantics",
    "gemini_version",
    "is_gemini3",
    "pick",
    "problem_error",
]


def _message(proto: str, fields: dict[str, Spec], required: frozenset[str] = frozenset()) -> Obj:
    """A proto message: each field under its JSON name and its proto (snake_case) name."""
    both = {**fields, **{snake(k): v for k, v in fields.items()}}
    return Obj(both, required | {snake(k) for k in required}, proto=proto)


_STRING = Scalar("string", proto="TYPE_STRING")
_BOOL = Scalar("boolean", proto="TYPE_BOOL")
_INT = Scalar("integer", proto="TYPE_INT32")
_FLOAT = Scalar("number", proto="TYPE_FLOAT")

_FUNCTION_RESPONSE_PART = _message(
    "FunctionResponsePart",
    {
        "inlineData": _message(
            "FunctionResponseBlob", {"mimeType": _STRING, "data": _STRING, "displayName": _STRING}
        ),
        "fileData": _message(
            "FunctionResponseFileData",
            {"mimeType": _STRING, "fileUri": _STRING, "displayName": _STRING},
        ),
        **dict.fromkeys(
            (
                "audioMetadata",
                "documentMetadata",
                "mediaProcessing",
                "mediaResolution",
                "spreadsheetMetadata",
                "videoMetadata",
            ),
            ANY,
        ),
    },
)
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
                "parts": Arr(_FUNCTION_RESPONSE_PART),
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
_FUNCTION_DECLARATION = _message(
    "FunctionDeclaration",
    {
        "name": _STRING,
        "description": _STRING,
        "parameters": ANY,  # a Schema, walked by check_schemas
        "parametersJsonSchema": ANY,
        "response": ANY,
        "responseJsonSchema": ANY,
        "behavior": ANY,
    },
    frozenset({"name"}),
)
_TOOL_FIELDS: dict[str, Spec] = {
    "functionDeclarations": Arr(_FUNCTION_DECLARATION),
    **dict.fromkeys(
        (
            "codeExecution",
            "computerUse",
            "fileSearch",
            "googleMaps",
            "googleSearch",
            "googleSearchRetrieval",
            "mcpServers",
            "urlContext",
        ),
        ANY,
    ),
}


def _tool_config(vertex: bool) -> Obj:
    """``ToolConfig``: Vertex alone streams call arguments; the Gemini API alone shows server tools.

    (google-genai 3.6 ``types.FunctionCallingConfig.stream_function_call_arguments``: "not supported
    in Gemini API"; ``ToolConfig.include_server_side_tool_invocations``: "not supported in Vertex
    AI".) ``mode`` is an enum checked by :func:`check_semantics` (Google takes any case).
    """
    calling: dict[str, Spec] = {"mode": ANY, "allowedFunctionNames": Arr(_STRING)}
    config: dict[str, Spec] = {"retrievalConfig": ANY}
    if vertex:
        calling["streamFunctionCallArguments"] = _BOOL
    else:
        config["includeServerSideToolInvocations"] = _BOOL
    config["functionCallingConfig"] = _message("FunctionCallingConfig", calling)
    return _message("ToolConfig", config)


_COMMON: dict[str, Spec] = {
    "contents": Arr(_TURN, min_items=1),
    "systemInstruction": _CONTENT,
    "generationConfig": _GENERATION_CONFIG,
    "safetySettings": Arr(_SAFETY),
    "cachedContent": _STRING,
    "labels": ANY,
    "serviceTier": ANY,
    "continuationToken": ANY,
    "model": _STRING,
}
GEMINI_REQUEST = _message(
    "GenerateContentRequest",
    {
        **_COMMON,
        "tools": Arr(_message("Tool", {**_TOOL_FIELDS, "retrieval": ANY})),
        "toolConfig": _tool_config(vertex=False),
        "store": _BOOL,
    },
    frozenset({"contents"}),
)
"""The Gemini API's ``models/{model}:generateContent`` (and ``:streamGenerateContent``) body."""
VERTEX_REQUEST = _message(
    "GenerateContentRequest",
    {
        **_COMMON,
        "tools": Arr(
            _message("Tool", {**_TOOL_FIELDS, "retrieval": ANY, "enterpriseWebSearch": ANY})
        ),
        "toolConfig": _tool_config(vertex=True),
        "modelArmorConfig": ANY,
    },
    frozenset({"contents"}),
)
"""Vertex AI's ``publishers/google/models/{model}:generateContent`` body."""

_CAMEL = re.compile(r"_([a-z])")


def _proto_path(path: Path) -> str:
    """A path as Google's errors write it: ``contents[0].parts[1].inline_data``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{snake(step)}" if out else snake(step))
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


# -- tools, tool results, thought signatures and per-model rules ---------------------------------
#
# What the field schema above cannot say. Each wording is Google's as quoted from a live 400 in a
# public issue (named next to it); where no recorded body was found the rule's source is named and
# the message follows Google's ``* GenerateContentRequest.<field>: <reason>`` form.

THOUGHT_SIGNATURE = "gemini-thought"
"""The :mod:`llmorch.testing._signing` kind of the ``thoughtSignature`` the emulator issues."""
SKIP_SIGNATURE = frozenset(
    {"skip_thought_signature_validator", "context_engineering_is_the_way_to_go"}
)
"""Dummy signatures Google documents as taken in place of a lost one (thought-signatures page)."""
MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
"""``FunctionCallingConfig.Mode`` (google-genai 3.6 ``types.FunctionCallingConfigMode``)."""
LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH")
"""``ThinkingConfig.ThinkingLevel`` (google-genai 3.6 ``types.ThinkingLevel``)."""

# The OpenAPI-subset ``Schema`` of ``parameters`` / ``responseSchema`` on the Gemini API
# (ai.google.dev/api/caching#Schema). Vertex's Schema also has additionalProperties, defs and ref
# (google-genai ``types.Schema``), so only the Gemini API refuses those: issue Laisky/one-api#60
# quotes ``Invalid JSON payload received. Unknown name "additionalProperties" at
# 'tools[0].function_declarations[0].parameters': Cannot find field.``
_SCHEMA_FIELDS = (
    "anyOf default description enum example format items maxItems maxLength maxProperties maximum "
    "minItems minLength minProperties minimum nullable pattern properties propertyOrdering "
    "required title type"
).split()
_GEMINI_SCHEMA = frozenset(_SCHEMA_FIELDS) | {snake(f) for f in _SCHEMA_FIELDS}
_VERTEX_SCHEMA = _GEMINI_SCHEMA | {"additionalProperties", "additional_properties", "defs", "ref"}
# Mintplex-Labs/anything-llm#4452 (and prism-php/prism#302) quote the live wording.
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]{0,63}")
_BAD_NAME = (
    "* GenerateContentRequest.{path}: Invalid function name. Must start with a letter or an "
    "underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or "
    "dashes (-), with a maximum length of 64.\n"
)
# Live wordings: google-gemini/gemini-cli#26486 and #11814 (call turn), langchain-ai/langchain#27799
# (response turn), gemini-cli#4504 (count), lbjlaq/Antigravity-Manager#1513 (missing signature),
# heyhuynhgiabuu/proxypal#119 (corrupted signature), router-for-me/CLIProxyAPI#5199 (ids, on
# gemini-3.7-flash), LibreChat-AI/agents#323 (trailing model turn), RooCodeInc/Roo-Code#10700 and
# vellum-ai/vellum-assistant#32687 (thinking levels).
CALL_TURN = (
    "Please ensure that function call turn comes immediately after a user turn or after a function "
    "response turn."
)
RESPONSE_TURN = (
    "Please ensure that function response turn comes immediately after a function call turn."
)
RESPONSE_COUNT = (
    "Please ensure that the number of function response parts is equal to the number of function "
    "call parts of the function call turn."
)
MISSING_SIGNATURE = (
    "Function call is missing a thought_signature in functionCall parts. This is required for "
    "tools to work correctly, and missing thought_signature may lead to degraded model "
    "performance. Additional data, function call `default_api:{name}` , position {position}. "
    "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
CORRUPTED_SIGNATURE = "Corrupted thought signature."
ID_MISMATCH = "functionResponse.id does not match functionCall.id"
PREFILL = (
    "Requests ending with a model turn are not supported unless the last part is a function "
    "response."
)
NO_LEVEL = "Thinking level is not supported for this model."


def _refuses_prefill(model: str) -> bool:
    """Gemini 3.6 Flash, 3.5 Flash-Lite and every later release refuse a trailing model turn.

    Google's latest-model page ("Starting with Gemini 3.6 Flash and Gemini 3.5 Flash-Lite … all
    future Gemini model releases … Prefilling model turns is no longer supported", quoted in
    cline/cline#12521); LibreChat-AI/agents#323 verified 3.5 Flash and 2.5 Flash still take one.
    """
    version = gemini_version(model)
    if version is None:
        return False
    return version >= (3, 6) or (version == (3, 5) and "flash-lite" in model)


def call_signature_text(call: dict[str, Any]) -> str:
    """What a function call part's signature covers: its name and arguments (canonical JSON).

    Args:
        call: The ``functionCall`` object.

    Returns:
        The signed text.
    """
    args = json.dumps(call.get("args") or {}, sort_keys=True, separators=(",", ":"))
    return f"call\0{call.get('name', '')}\0{args}"


TEXT_SIGNATURE = "text"
"""What a text part's signature covers (the thought state it stands for is not re-sent)."""


def _schema_unknown(value: Any, path: str, allowed: frozenset[str]) -> tuple[str, str] | None:
    """The first undeclared key in an OpenAPI ``Schema``: ``(key, where)``."""
    if not isinstance(value, dict):
        return None
    for key in value:
        if key not in allowed:
            return key, path
    properties = value.get("properties")
    if isinstance(properties, dict):
        for i, sub in enumerate(properties.values()):
            found = _schema_unknown(sub, f"{path}.properties[{i}].value", allowed)
            if found:
                return found
    for key in ("items",):
        found = _schema_unknown(value.get(key), f"{path}.{key}", allowed)
        if found:
            return found
    for name in ("anyOf", "any_of"):
        for i, sub in enumerate(value.get(name) or []):
            found = _schema_unknown(sub, f"{path}.any_of[{i}]", allowed)
            if found:
                return found
    return None


def _unknown_in_schema(key: str, where: str) -> tuple[str, list[dict[str, Any]]]:
    message = (
        f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field."
    )
    return refusal(message, where)


def _enumrefusal(
    value: Any, where: str, enum: str, package: str
) -> tuple[str, list[dict[str, Any]]]:
    message = (
        f"Invalid value at '{where}' (type.googleapis.com/{package}.{enum}), {json.dumps(value)}"
    )
    return refusal(message, where)


def _declarations(body: dict[str, Any]) -> list[tuple[int, int, dict[str, Any]]]:
    found: list[tuple[int, int, dict[str, Any]]] = []
    for t, tool in enumerate(body.get("tools") or []):
        if isinstance(tool, dict):
            for d, declaration in enumerate(pick(tool, "functionDeclarations") or []):
                if isinstance(declaration, dict):
                    found.append((t, d, declaration))
    return found


def _check_tools(
    body: dict[str, Any], package: str, vertex: bool
) -> tuple[str, list[dict[str, Any]]] | None:
    allowed = _VERTEX_SCHEMA if vertex else _GEMINI_SCHEMA
    names: list[str] = []
    for t, d, declaration in _declarations(body):
        where = f"tools[{t}].function_declarations[{d}]"
        name = declaration.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
            return _BAD_NAME.format(path=f"{where}.name"), []
        names.append(name)
        for key in ("parameters", "response"):
            found = _schema_unknown(declaration.get(key), f"{where}.{key}", allowed)
            if found:
                return _unknown_in_schema(*found)
    schema = pick(body, "generationConfig", "responseSchema")
    found = _schema_unknown(schema, "generation_config.response_schema", allowed)
    if found:
        return _unknown_in_schema(*found)
    calling = pick(body, "toolConfig", "functionCallingConfig")
    if not isinstance(calling, dict):
        return None
    where = "tool_config.function_calling_config"
    mode = calling.get("mode", "AUTO")
    if not isinstance(mode, str) or mode.upper() not in MODES:
        return _enumrefusal(mode, f"{where}.mode", "FunctionCallingConfig.Mode", package)
    allowed_names = pick(calling, "allowedFunctionNames")
    if allowed_names:
        # The rule is the API reference's (FunctionCallingConfig.allowed_function_names: "Only
        # set when the Mode is ANY. Function names should match FunctionDeclaration.name"); no
        # recorded 400 body was found, so the wording is the emulator's in Google's form.
        field = f"{where}.allowed_function_names"
        if mode.upper() not in ("ANY", "VALIDATED"):
            message = (
                f"* GenerateContentRequest.{field}: only allowed when mode is ANY or VALIDATED.\n"
            )
            return message, []
        for i, name in enumerate(allowed_names):
            if name not in names:
                message = (
                    f"* GenerateContentRequest.{field}[{i}]: function name {name!r} is not "
                    "declared in tools.\n"
                )
                return message, []
    return None


def _check_thinking(
    body: dict[str, Any], model: str, package: str
) -> tuple[str, list[dict[str, Any]]] | None:
    thinking = pick(body, "generationConfig", "thinkingConfig")
    if not isinstance(thinking, dict):
        return None
    level = pick(thinking, "thinkingLevel")
    if level is None:
        # thinkingBudget is accepted by Gemini 3 "for backwards compatibility" (thinking docs;
        # maragudk/gai#369 probed 3.6-3.8 live with a zero budget), so it is not refused here.
        return None
    where = "generation_config.thinking_config.thinking_level"
    if not isinstance(level, str) or level.upper() not in LEVELS:
        return _enumrefusal(level, where, "ThinkingConfig.ThinkingLevel", package)
    if not is_gemini3(model):
        return NO_LEVEL, []
    if level.upper() == "MINIMAL" and "-pro" in model:
        return "Thinking level MINIMAL is not supported for this model.", []
    return None


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or [] if isinstance(p, dict)]


def _call(part: dict[str, Any]) -> dict[str, Any] | None:
    call = pick(part, "functionCall")
    return call if isinstance(call, dict) else None


def _response(part: dict[str, Any]) -> dict[str, Any] | None:
    response = pick(part, "functionResponse")
    return response if isinstance(response, dict) else None


def _signature(part: dict[str, Any]) -> Any:
    return pick(part, "thoughtSignature")


def _standard_base64(value: Any) -> str | None:
    """A ``bytes`` field's value in the standard alphabet, padded.

    Proto JSON takes the URL-safe alphabet too, padded or not; google-genai sends
    ``thoughtSignature`` that way.
    """
    if not isinstance(value, str):
        return None
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return None
    return base64.b64encode(raw).decode()


def _check_signatures(contents: list[Any], model: str) -> tuple[str, list[dict[str, Any]]] | None:
    """Every signature must be one the emulator issued; Gemini 3 needs them on the current turn.

    The current turn is everything after the last user turn that is not only function responses
    (thought-signatures docs: "the first functionCall part in each step of the current turn must
    include its thought_signature"; parallel calls carry one, on the first part).
    """
    start = 0
    for i, content in enumerate(contents):
        parts = _parts(content)
        if content.get("role", "user") == "user" and any(_response(p) is None for p in parts):
            start = i + 1
    for i, content in enumerate(contents):
        calls = [p for p in _parts(content) if _call(p) is not None]
        for part in _parts(content):
            signature = _signature(part)
            if signature is None or signature in SKIP_SIGNATURE:
                continue
            call = _call(part)
            text = call_signature_text(call) if call is not None else TEXT_SIGNATURE
            if not verify(THOUGHT_SIGNATURE, text, _standard_base64(signature)):
                return CORRUPTED_SIGNATURE, []
        if i >= start and calls and is_gemini3(model) and _signature(calls[0]) is None:
            name = (_call(calls[0]) or {}).get("name", "")
            return MISSING_SIGNATURE.format(name=name, position=i + 1), []
    return None


def _check_turns(contents: list[Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """Function call and response turns follow each other the way Gemini requires."""
    previous: dict[str, Any] | None = None
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            previous = None
            continue
        parts = _parts(content)
        calls = [c for c in map(_call, parts) if c is not None]
        responses = [r for r in map(_response, parts) if r is not None]
        before = _parts(previous)
        if calls and (previous is None or previous.get("role", "user") != "user"):
            return CALL_TURN, []
        if responses:
            asked = [c for c in map(_call, before) if c is not None]
            if not asked or (previous or {}).get("role") != "model":
                return RESPONSE_TURN, []
            if len(asked) != len(responses):
                return RESPONSE_COUNT, []
            problem = _match_responses(asked, responses, i)
            if problem is not None:
                return problem
        previous = content
    return None


def _match_responses(
    calls: list[dict[str, Any]], responses: list[dict[str, Any]], index: int
) -> tuple[str, list[dict[str, Any]]] | None:
    """Each response answers one call: by ``id`` when the calls had ids, else by name.

    Gemini 3 "always returns a unique id with every functionCall … include this exact id in your
    functionResponse" (function-calling docs); a mismatch is the 400 router-for-me/CLIProxyAPI#5199
    reports. No recorded body for a name that answers no call was found: that wording is the
    emulator's, in Google's form.
    """
    by_id = {c.get("id"): c for c in calls if c.get("id")}
    names = [c.get("name") for c in calls]
    for j, response in enumerate(responses):
        if by_id:
            call = by_id.get(response.get("id"))
            if call is None:
                return ID_MISMATCH, []
            if call.get("name") != response.get("name"):
                where = f"contents[{index}].parts[{j}].function_response.name"
                return f"* GenerateContentRequest.{where}: does not match functionCall.name.\n", []
        elif response.get("name") in names:
            names.remove(response.get("name"))
        else:
            where = f"contents[{index}].parts[{j}].function_response.name"
            message = (
                f"* GenerateContentRequest.{where}: no function call in the previous turn has "
                "this name.\n"
            )
            return message, []
    return None


def check_semantics(
    body: dict[str, Any], model: str, package: str, *, vertex: bool
) -> tuple[str, list[dict[str, Any]]] | None:
    """The rules past the field schema: tools, turn order, signatures, per-model parameters.

    Args:
        body: A body :func:`check` accepted.
        model: The model from the path.
        package: The API's proto package, for enum type names.
        vertex: Vertex AI's rules (its Schema takes ``additionalProperties``).

    Returns:
        ``(message, details)`` of the refusal, or ``None``.
    """
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    refusal = (
        _check_tools(body, package, vertex)
        or _check_thinking(body, model, package)
        or _check_turns(contents)
        or _check_signatures(contents, model)
    )
    if refusal is not None:
        return refusal
    if contents and contents[-1].get("role") == "model" and _refuses_prefill(model):
        return PREFILL, []
    return None
