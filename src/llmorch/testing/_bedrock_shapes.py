"""The Converse / ConverseStream request shapes the Bedrock dialect accepts (SPEC §3 "Strict").

Declared here, from the ``bedrock-runtime`` service model (``service-2.json``, API version
2023-09-30), so the emulator needs no botocore to judge a body. Each structure maps its body
members to a type: a scalar (``string``, ``integer``, ``float``, ``boolean``, ``blob``,
``timestamp``), ``document`` (free-form JSON, e.g. ``additionalModelRequestFields``),
``[T]`` (a list of T), ``{T}`` (a map to T) or another structure's name. A test checks the
table against botocore's copy of the model.

Beyond the shapes, :data:`REQUIRED` and :data:`CONSTRAINTS` hold the service model's required
members and the length, range, pattern and enum traits of the members a tool conversation,
image and document blocks and an output format touch; :func:`constraint_problem` words their
breaches as Bedrock's Coral front end does
("1 validation error detected: Value at 'messages.2.member.content.1.member.toolUse.name'
failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
a live 400 recorded in vercel/ai ``bedrock-invalid-tool-name-validation-error.json``; list
members 1-based as ``N.member``; "Value at 'toolConfig.tools' failed to satisfy constraint:
Member must have length greater than or equal to 1", genkit-ai/aws-bedrock-js-plugin#43).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["CONSTRAINTS", "REQUIRED", "STRUCTURES", "UNIONS", "body_problem", "constraint_problem"]

STRUCTURES: dict[str, dict[str, str]] = {
    "AnyToolChoice": {},
    "AudioBlock": {"format": "string", "source": "AudioSource", "error": "ErrorBlock"},
    "AudioSource": {"bytes": "blob", "s3Location": "S3Location"},
    "AutoToolChoice": {},
    "CachePointBlock": {"type": "string", "ttl": "string"},
    "Citation": {
        "title": "string",
        "source": "string",
        "sourceContent": "[CitationSourceContent]",
        "location": "CitationLocation",
    },
    "CitationGeneratedContent": {"text": "string"},
    "CitationLocation": {
        "web": "WebLocation",
        "documentChar": "DocumentCharLocation",
        "documentPage": "DocumentPageLocation",
        "documentChunk": "DocumentChunkLocation",
        "searchResultLocation": "SearchResultLocation",
    },
    "CitationSourceContent": {"text": "string"},
    "CitationsConfig": {"enabled": "boolean"},
    "CitationsContentBlock": {"content": "[CitationGeneratedContent]", "citations": "[Citation]"},
    "ContentBlock": {
        "text": "string",
        "image": "ImageBlock",
        "document": "DocumentBlock",
        "video": "VideoBlock",
        "audio": "AudioBlock",
        "toolUse": "ToolUseBlock",
        "toolResult": "ToolResultBlock",
        "guardContent": "GuardrailConverseContentBlock",
        "cachePoint": "CachePointBlock",
        "reasoningContent": "ReasoningContentBlock",
        "citationsContent": "CitationsContentBlock",
        "searchResult": "SearchResultBlock",
        "toolAddition": "ToolAdditionBlock",
        "toolRemoval": "ToolRemovalBlock",
    },
    "ConverseRequest": {
        "messages": "[Message]",
        "system": "[SystemContentBlock]",
        "inferenceConfig": "InferenceConfiguration",
        "toolConfig": "ToolConfiguration",
        "guardrailConfig": "GuardrailConfiguration",
        "projectIdentifier": "string",
        "additionalModelRequestFields": "document",
        "promptVariables": "{PromptVariableValues}",
        "additionalModelResponseFieldPaths": "[string]",
        "requestMetadata": "{string}",
        "performanceConfig": "PerformanceConfiguration",
        "serviceTier": "ServiceTier",
        "outputConfig": "OutputConfig",
    },
    "ConverseStreamRequest": {
        "messages": "[Message]",
        "system": "[SystemContentBlock]",
        "inferenceConfig": "InferenceConfiguration",
        "toolConfig": "ToolConfiguration",
        "guardrailConfig": "GuardrailStreamConfiguration",
        "projectIdentifier": "string",
        "additionalModelRequestFields": "document",
        "promptVariables": "{PromptVariableValues}",
        "additionalModelResponseFieldPaths": "[string]",
        "requestMetadata": "{string}",
        "performanceConfig": "PerformanceConfiguration",
        "serviceTier": "ServiceTier",
        "outputConfig": "OutputConfig",
    },
    "DocumentBlock": {
        "format": "string",
        "name": "string",
        "source": "DocumentSource",
        "context": "string",
        "citations": "CitationsConfig",
    },
    "DocumentCharLocation": {"documentIndex": "integer", "start": "integer", "end": "integer"},
    "DocumentChunkLocation": {"documentIndex": "integer", "start": "integer", "end": "integer"},
    "DocumentContentBlock": {"text": "string"},
    "DocumentPageLocation": {"documentIndex": "integer", "start": "integer", "end": "integer"},
    "DocumentSource": {
        "bytes": "blob",
        "s3Location": "S3Location",
        "text": "string",
        "content": "[DocumentContentBlock]",
    },
    "ErrorBlock": {"message": "string"},
    "GuardrailConfiguration": {
        "guardrailIdentifier": "string",
        "guardrailVersion": "string",
        "trace": "string",
    },
    "GuardrailConverseContentBlock": {
        "text": "GuardrailConverseTextBlock",
        "image": "GuardrailConverseImageBlock",
    },
    "GuardrailConverseImageBlock": {"format": "string", "source": "GuardrailConverseImageSource"},
    "GuardrailConverseImageSource": {"bytes": "blob"},
    "GuardrailConverseTextBlock": {"text": "string", "qualifiers": "[string]"},
    "GuardrailStreamConfiguration": {
        "guardrailIdentifier": "string",
        "guardrailVersion": "string",
        "trace": "string",
        "streamProcessingMode": "string",
    },
    "ImageBlock": {"format": "string", "source": "ImageSource", "error": "ErrorBlock"},
    "ImageSource": {"bytes": "blob", "s3Location": "S3Location"},
    "InferenceConfiguration": {
        "maxTokens": "integer",
        "temperature": "float",
        "topP": "float",
        "stopSequences": "[string]",
    },
    "JsonSchemaDefinition": {"schema": "string", "name": "string", "description": "string"},
    "Message": {"role": "string", "content": "[ContentBlock]"},
    "OutputConfig": {"textFormat": "OutputFormat", "effort": "string"},
    "OutputFormat": {"type": "string", "structure": "OutputFormatStructure"},
    "OutputFormatStructure": {"jsonSchema": "JsonSchemaDefinition"},
    "PerformanceConfiguration": {"latency": "string"},
    "PromptVariableValues": {"text": "string"},
    "ReasoningContentBlock": {"reasoningText": "ReasoningTextBlock", "redactedContent": "blob"},
    "ReasoningTextBlock": {"text": "string", "signature": "string"},
    "S3Location": {"uri": "string", "bucketOwner": "string"},
    "SearchResultBlock": {
        "source": "string",
        "title": "string",
        "content": "[SearchResultContentBlock]",
        "citations": "CitationsConfig",
    },
    "SearchResultContentBlock": {"text": "string"},
    "SearchResultLocation": {"searchResultIndex": "integer", "start": "integer", "end": "integer"},
    "ServiceTier": {"type": "string"},
    "SpecificToolChoice": {"name": "string"},
    "SystemContentBlock": {
        "text": "string",
        "guardContent": "GuardrailConverseContentBlock",
        "cachePoint": "CachePointBlock",
    },
    "SystemTool": {"name": "string"},
    "Tool": {
        "toolSpec": "ToolSpecification",
        "systemTool": "SystemTool",
        "cachePoint": "CachePointBlock",
    },
    "ToolAdditionBlock": {"tool": "ToolReference"},
    "ToolChoice": {"auto": "AutoToolChoice", "any": "AnyToolChoice", "tool": "SpecificToolChoice"},
    "ToolConfiguration": {"tools": "[Tool]", "toolChoice": "ToolChoice"},
    "ToolInputSchema": {"json": "document"},
    "ToolReference": {"type": "string", "name": "string", "serverName": "string"},
    "ToolRemovalBlock": {"tool": "ToolReference"},
    "ToolResultBlock": {
        "toolUseId": "string",
        "content": "[ToolResultContentBlock]",
        "status": "string",
        "type": "string",
    },
    "ToolResultContentBlock": {
        "json": "document",
        "text": "string",
        "image": "ImageBlock",
        "document": "DocumentBlock",
        "video": "VideoBlock",
        "searchResult": "SearchResultBlock",
    },
    "ToolSpecification": {
        "name": "string",
        "description": "string",
        "inputSchema": "ToolInputSchema",
        "strict": "boolean",
    },
    "ToolUseBlock": {
        "toolUseId": "string",
        "name": "string",
        "input": "document",
        "type": "string",
    },
    "VideoBlock": {"format": "string", "source": "VideoSource"},
    "VideoSource": {"bytes": "blob", "s3Location": "S3Location"},
    "WebLocation": {"url": "string", "domain": "string"},
}

UNIONS = frozenset(
    [
        "AudioSource",
        "CitationGeneratedContent",
        "CitationLocation",
        "CitationSourceContent",
        "ContentBlock",
        "DocumentContentBlock",
        "DocumentSource",
        "GuardrailConverseContentBlock",
        "GuardrailConverseImageSource",
        "ImageSource",
        "OutputFormatStructure",
        "PromptVariableValues",
        "ReasoningContentBlock",
        "SystemContentBlock",
        "Tool",
        "ToolChoice",
        "ToolInputSchema",
        "ToolResultContentBlock",
        "VideoSource",
    ]
)
"""Structures of which exactly one member must be set."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "AudioBlock": ("format", "source"),
    "CachePointBlock": ("type",),
    "CitationsConfig": ("enabled",),
    "DocumentBlock": ("name", "source"),
    "GuardrailConverseImageBlock": ("format", "source"),
    "GuardrailConverseTextBlock": ("text",),
    "ImageBlock": ("format", "source"),
    "JsonSchemaDefinition": ("schema",),
    "Message": ("role", "content"),
    "OutputFormat": ("type", "structure"),
    "ReasoningTextBlock": ("text",),
    "S3Location": ("uri",),
    "SearchResultBlock": ("source", "title", "content"),
    "SearchResultContentBlock": ("text",),
    "ServiceTier": ("type",),
    "SpecificToolChoice": ("name",),
    "SystemTool": ("name",),
    "ToolAdditionBlock": ("tool",),
    "ToolConfiguration": ("tools",),
    "ToolRemovalBlock": ("tool",),
    "ToolResultBlock": ("toolUseId", "content"),
    "ToolSpecification": ("name", "inputSchema"),
    "ToolUseBlock": ("toolUseId", "name", "input"),
    "VideoBlock": ("format", "source"),
}
"""Required members per structure (``modelId``, the URI label, aside)."""

_TOOL_NAME = {"min": 1, "max": 64, "pattern": "[a-zA-Z0-9_-]+"}
_TOOL_USE_ID = {"min": 1, "max": 64, "pattern": "[a-zA-Z0-9_.:-]+"}
CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    ("Message", "role"): {"enum": ["user", "assistant", "system"]},
    ("ToolUseBlock", "toolUseId"): _TOOL_USE_ID,
    ("ToolUseBlock", "name"): _TOOL_NAME,
    ("ToolResultBlock", "toolUseId"): _TOOL_USE_ID,
    ("ToolResultBlock", "status"): {"enum": ["success", "error"]},
    ("ToolSpecification", "name"): _TOOL_NAME,
    ("SpecificToolChoice", "name"): _TOOL_NAME,
    ("ToolConfiguration", "tools"): {"min": 1},
    ("InferenceConfiguration", "maxTokens"): {"min": 1},
    ("InferenceConfiguration", "temperature"): {"min": 0, "max": 1},
    ("InferenceConfiguration", "topP"): {"min": 0, "max": 1},
    ("InferenceConfiguration", "stopSequences"): {"min": 0, "max": 2500},
    ("CachePointBlock", "type"): {"enum": ["default"]},
    ("CachePointBlock", "ttl"): {"enum": ["5m", "1h"]},
    ("ServiceTier", "type"): {"enum": ["priority", "default", "flex", "reserved"]},
    ("PerformanceConfiguration", "latency"): {"enum": ["standard", "optimized"]},
    ("ImageBlock", "format"): {"enum": ["png", "jpeg", "gif", "webp"]},
    ("ImageSource", "bytes"): {"min": 1},
    ("DocumentBlock", "format"): {
        "enum": ["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]
    },
    ("DocumentBlock", "name"): {"min": 1, "max": 200},
    ("DocumentSource", "bytes"): {"min": 1},
    ("OutputFormat", "type"): {"enum": ["json_schema"]},
}
"""Traits of the members a tool conversation, media and an output format touch, as the service
model states them."""

_SCALARS: dict[str, tuple[str, tuple[type, ...]]] = {
    "string": ("String", (str,)),
    "blob": ("String", (str,)),  # base64 text in JSON
    "integer": ("Integer", (int,)),
    "long": ("Integer", (int,)),
    "float": ("Number", (int, float)),
    "double": ("Number", (int, float)),
    "boolean": ("Boolean", (bool,)),
    "timestamp": ("Number", (int, float, str)),
}


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "JSONObject"
    if isinstance(value, list):
        return "JSONArray"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    return "String"


def _malformed(path: str, problem: str) -> str:
    return f"Malformed input request: {path}: {problem}, please reformat your input and try again."


def _check(value: Any, kind: str, path: str) -> str | None:
    if kind == "document" or value is None:  # null is an absent member
        return None
    if kind.startswith("["):
        if not isinstance(value, list):
            return _malformed(path, f"expected type: JSONArray, found: {_found(value)}")
        for i, item in enumerate(value):
            problem = _check(item, kind[1:-1], f"{path}/{i}")
            if problem:
                return problem
        return None
    if kind.startswith("{") or kind in STRUCTURES:
        if not isinstance(value, dict):
            return _malformed(path, f"expected type: JSONObject, found: {_found(value)}")
        if kind.startswith("{"):
            for key, item in value.items():
                problem = _check(item, kind[1:-1], f"{path}/{key}")
                if problem:
                    return problem
            return None
        return _check_structure(value, kind, path)
    name, types = _SCALARS[kind]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        return _malformed(path, f"expected type: {name}, found: {_found(value)}")
    return None


def _check_structure(value: dict[str, Any], shape: str, path: str) -> str | None:
    members = STRUCTURES[shape]
    for key in value:
        if key not in members:
            return _malformed(path, f"extraneous key [{key}] is not permitted")
    if shape in UNIONS and sum(v is not None for v in value.values()) != 1:
        return _malformed(path, f"exactly one member of {shape} must be set")
    for key, item in value.items():
        problem = _check(item, members[key], f"{path}/{key}")
        if problem:
            return problem
    return None


def body_problem(body: Any, shape: str) -> str | None:
    """Why a request body does not fit its operation's input shape, as Bedrock words it.

    Unknown members (top level or nested), JSON types that do not match, unions with other
    than one member set. ``document`` members (``additionalModelRequestFields``, tool input
    schemas, tool inputs) are free-form.

    Args:
        body: The decoded JSON body.
        shape: ``ConverseRequest`` or ``ConverseStreamRequest``.

    Returns:
        The ``ValidationException`` message, or ``None`` when the body fits.
    """
    return _check(body, shape, "#")


def _breaches(value: Any, trait: dict[str, Any]) -> list[str]:
    out: list[str] = []
    sized = isinstance(value, (str, list))
    size = len(value) if sized else value
    what = "length" if sized else "value"
    if "enum" in trait and value not in trait["enum"]:
        out.append(f"Member must satisfy enum value set: [{', '.join(trait['enum'])}]")
    if "min" in trait and isinstance(size, (int, float)) and size < trait["min"]:
        out.append(f"Member must have {what} greater than or equal to {trait['min']}")
    if "max" in trait and isinstance(size, (int, float)) and size > trait["max"]:
        out.append(f"Member must have {what} less than or equal to {trait['max']}")
    if "pattern" in trait and isinstance(value, str) and not re.fullmatch(trait["pattern"], value):
        out.append(f"Member must satisfy regular expression pattern: {trait['pattern']}")
    return out


def _traits(value: Any, kind: str, path: str, out: list[str]) -> None:
    if kind.startswith("[") and isinstance(value, list):
        for i, item in enumerate(value):
            _traits(item, kind[1:-1], f"{path}.{i + 1}.member", out)
        return
    if kind not in STRUCTURES or not isinstance(value, dict):
        return
    for key in REQUIRED.get(kind, ()):
        if value.get(key) is None:
            where = f"{path}.{key}".lstrip(".")
            out.append(
                f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
            )
    for key, item in value.items():
        if item is None:
            continue
        where = f"{path}.{key}".lstrip(".")
        trait = CONSTRAINTS.get((kind, key))
        if trait:
            out += [
                f"Value at '{where}' failed to satisfy constraint: {breach}"
                for breach in _breaches(item, trait)
            ]
        _traits(item, STRUCTURES[kind][key], where, out)


def constraint_problem(body: dict[str, Any], shape: str) -> str | None:
    """Required members that are missing and traits that are breached, as Coral lists them.

    Run after :func:`body_problem` passed (the JSON types are right).

    Args:
        body: The decoded JSON body.
        shape: ``ConverseRequest`` or ``ConverseStreamRequest``.

    Returns:
        ``"N validation error(s) detected: …"`` (each breach, ``; ``-separated), or ``None``.
    """
    found: list[str] = []
    _traits(body, shape, "", found)
    if not found:
        return None
    plural = "s" if len(found) > 1 else ""
    return f"{len(found)} validation error{plural} detected: " + "; ".join(found)
