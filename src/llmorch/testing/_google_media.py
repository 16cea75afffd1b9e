"""Image, document and file parts as the Gemini API and Vertex AI take them, and their refusals.

A ``Part`` carries media as ``inlineData`` (``mimeType`` + base64 ``data``) or as ``fileData``
(``mimeType`` + ``fileUri``); a ``functionResponse`` may carry ``parts`` of its own (multimodal
function responses, Gemini 3). The facts and Google's wordings, with their sources:

- bad base64 is a proto ``TYPE_BYTES`` error: ``Invalid value at 'contents[0].parts[2].inline_data
  .data' (TYPE_BYTES), Base64 decoding failed for "…"`` with a ``BadRequest`` field violation
  (a live 400 quoted in danny-avila/LibreChat#6593);
- an unsupported media type: the Gemini API answers ``Unsupported MIME type: image/jpg``
  (ogkalu2/comic-translate#399, charmbracelet/crush#995; GIF too, Mai-with-u/MaiBot#1435), Vertex
  AI ``Unable to submit request because it has a mimeType parameter with value application/json,
  which is not supported. …`` (agno-agi/agno#3964);
- what each API takes: images PNG, JPEG, WebP, HEIC, HEIF (ai.google.dev/gemini-api/docs/
  image-understanding; Vertex: cloud.google.com/vertex-ai/generative-ai/docs/multimodal/
  image-understanding), PDF and the plain-text document types (ai.google.dev/gemini-api/docs/
  document-processing; Vertex: application/pdf and text/plain, …/multimodal/document-understanding),
  and the audio and video types of the same pages;
- ``fileData.fileUri``: the Gemini API fetches public or signed ``https://`` URLs itself and takes
  ``gs://`` objects and its Files API URIs (blog.google "Increased file size limits and expanded
  inputs support in Gemini API", 2026-01-12); Vertex AI takes ``gs://`` and ``http(s)://`` URLs
  (…/model-reference/gemini, ``fileData``);
- a function response's media (``FunctionResponsePart``): ``inlineData`` on both APIs, ``fileData``
  only on Vertex (google-genai 3.6 ``types.FunctionResponsePart.file_data``: "not supported in
  Gemini API"), on Gemini 3 models (ai.google.dev/gemini-api/docs/function-calling, multimodal
  function responses).

Where no recorded body was found the wording is the emulator's, in Google's
``* GenerateContentRequest.<field>: <reason>`` form.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from llmorch.testing._google_common import Refusal, is_gemini3, pick, refusal

__all__ = ["DOCUMENT_TYPES", "IMAGE_TYPES", "check_media"]

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})
"""The image types both APIs take (no GIF)."""
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "text/plain",
        "text/csv",
        "text/html",
        "text/css",
        "text/markdown",
        "text/md",
        "text/xml",
        "text/rtf",
        "application/rtf",
        "text/javascript",
        "application/x-javascript",
        "text/x-python",
        "application/x-python",
        "application/json",
    }
)
"""The document types the Gemini API takes (PDF natively, the others as text)."""
_VERTEX_DOCUMENTS = frozenset({"application/pdf", "text/plain"})
_AUDIO_VIDEO = frozenset(
    {
        "audio/wav",
        "audio/mp3",
        "audio/mpeg",
        "audio/aiff",
        "audio/aac",
        "audio/ogg",
        "audio/flac",
        "video/mp4",
        "video/mpeg",
        "video/mov",
        "video/quicktime",
        "video/avi",
        "video/x-flv",
        "video/mpg",
        "video/webm",
        "video/wmv",
        "video/3gpp",
    }
)
_TOOL_RESULT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain"}
)
"""What a function response's parts may carry (function-calling docs, multimodal responses)."""
_VERTEX_LEARN_MORE = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
_GEMINI_SCHEMES = ("https://", "gs://")
_VERTEX_SCHEMES = ("https://", "http://", "gs://")


def _accepted(mime: str, vertex: bool) -> bool:
    documents = _VERTEX_DOCUMENTS if vertex else DOCUMENT_TYPES
    return mime in IMAGE_TYPES or mime in documents or mime in _AUDIO_VIDEO


def _unsupported(mime: str, vertex: bool) -> Refusal:
    if vertex:
        return refusal(
            f"Unable to submit request because it has a mimeType parameter with value {mime}, "
            f"which is not supported. Update the mimeType and try again. Learn more: "
            f"{_VERTEX_LEARN_MORE}"
        )
    return refusal(f"Unsupported MIME type: {mime}")


def _bad_bytes(value: Any, where: str) -> Refusal | None:
    """Google's ``TYPE_BYTES`` refusal when a ``bytes`` field is not base64 (either alphabet)."""
    if not isinstance(value, str):
        return None  # a wrong JSON kind is the field schema's refusal
    text = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        message = (
            f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed for "
            f"{json.dumps(value[:200])}"
        )
        return refusal(message, where)
    return None


def _blob(blob: Any, where: str, vertex: bool, allowed: frozenset[str] | None) -> Refusal | None:
    if not isinstance(blob, dict):
        return None
    mime = pick(blob, "mimeType")
    if not isinstance(mime, str) or not mime:
        return refusal(f"* GenerateContentRequest.{where}.mime_type: a MIME type is required.\n")
    problem = _bad_bytes(pick(blob, "data"), f"{where}.data")
    if problem is not None:
        return problem
    if pick(blob, "data") in (None, ""):
        return refusal(f"* GenerateContentRequest.{where}.data: inline data is required.\n")
    if not _accepted(mime, vertex) or (allowed is not None and mime not in allowed):
        return _unsupported(mime, vertex)
    return None


def _file(data: Any, where: str, vertex: bool) -> Refusal | None:
    if not isinstance(data, dict):
        return None
    uri = pick(data, "fileUri")
    schemes = _VERTEX_SCHEMES if vertex else _GEMINI_SCHEMES
    if not isinstance(uri, str) or not uri.startswith(schemes):
        shown = json.dumps(uri)
        return refusal(
            f"* GenerateContentRequest.{where}.file_uri: {shown} is not a supported file URI "
            f"({', '.join(s + '…' for s in schemes)}).\n"
        )
    mime = pick(data, "mimeType")
    if not isinstance(mime, str) or not mime:
        return refusal(f"* GenerateContentRequest.{where}.mime_type: a MIME type is required.\n")
    if not _accepted(mime, vertex):
        return _unsupported(mime, vertex)
    return None


def _function_parts(
    response: dict[str, Any], where: str, model: str, vertex: bool
) -> Refusal | None:
    parts = pick(response, "parts")
    if not parts:
        return None
    if not is_gemini3(model):
        return refusal(
            f"* GenerateContentRequest.{where}.parts: multimodal function responses are not "
            "supported for this model.\n"
        )
    for k, part in enumerate(parts):
        if not isinstance(part, dict):
            continue
        here = f"{where}.parts[{k}]"
        if not vertex and pick(part, "fileData") is not None:
            message = (
                f"Invalid JSON payload received. Unknown name \"fileData\" at '{here}': "
                "Cannot find field."
            )
            return refusal(message, here)
        found = _blob(pick(part, "inlineData"), f"{here}.inline_data", vertex, _TOOL_RESULT_TYPES)
        if found is None and vertex:
            found = _file(pick(part, "fileData"), f"{here}.file_data", vertex)
        if found is not None:
            return found
    return None


def check_media(body: dict[str, Any], model: str, *, vertex: bool) -> Refusal | None:
    """Check every media part of a request the way the API does.

    Args:
        body: A body the field schema accepted.
        model: The model from the path.
        vertex: Vertex AI's rules (``http://`` URLs, function-response ``fileData``, fewer
            document types).

    Returns:
        ``(message, details)`` of the first refusal, or ``None``.
    """
    system = pick(body, "systemInstruction")
    turns = [("system_instruction", system)] if isinstance(system, dict) else []
    turns += [(f"contents[{i}]", c) for i, c in enumerate(body.get("contents") or [])]
    for prefix, content in turns:
        parts = content.get("parts") if isinstance(content, dict) else None
        for j, part in enumerate(parts or []):
            if not isinstance(part, dict):
                continue
            where = f"{prefix}.parts[{j}]"
            found = _blob(pick(part, "inlineData"), f"{where}.inline_data", vertex, None) or _file(
                pick(part, "fileData"), f"{where}.file_data", vertex
            )
            response = pick(part, "functionResponse")
            if found is None and isinstance(response, dict):
                found = _function_parts(response, f"{where}.function_response", model, vertex)
            if found is not None:
                return found
    return None
