"""The Converse / ConverseStream request shapes the Bedrock dialect accepts (SPEC §3 "Strict").

Declared here, from the ``bedrock-runtime`` service model (``service-2.json``, API version
2023-09-30), so the emulator needs no botocore to judge a body. Each structure maps its body
members to a type: a scalar (``string``, ``integer``, ``float``, ``boolean``, ``blob``,
``timestamp``), ``document`` (free-form JSON, e.g. ``additionalModelRequestFields``),
``[T]`` (a list of T), ``{T}`` (a map to T) or another structure's name. A test checks the
table against botocore's copy of the model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STRUCTURES", "UNIONS", "body_problem"]

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
