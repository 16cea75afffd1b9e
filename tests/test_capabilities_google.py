"""The capability table's Gemini API and Vertex AI (Gemini) facts: one test per fact.

Each row of :data:`FACTS` is ``(provider type, model, field, value, source)``; the table
(``llmorch/data/capabilities.yaml``) must say exactly that, and names the same source.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmorch.capabilities import capabilities

GEMINI_IMAGES = ["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"]
STRUCTURED = "https://ai.google.dev/gemini-api/docs/structured-output"
VERTEX_STRUCTURED = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/control-generated-output"
)
IMAGES = "https://ai.google.dev/gemini-api/docs/image-understanding"
VERTEX_IMAGES = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/image-understanding"
)
DOCUMENTS = "https://ai.google.dev/gemini-api/docs/document-processing"
VERTEX_DOCUMENTS = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/multimodal/document-understanding"
)
FILE_LIMITS = (
    "https://blog.google/innovation-and-ai/technology/developers-tools/gemini-api-new-file-limits"
)
VERTEX_FILES = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"
FUNCTION_CALLING = "https://ai.google.dev/gemini-api/docs/function-calling"
CACHING = "https://ai.google.dev/gemini-api/docs/caching"
VERTEX_CACHING = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/context-cache/context-cache-overview"
)

FACTS: list[tuple[str, str, str, Any, str]] = [
    # structured output: native, any root (arrays, primitives)
    ("gemini", "gemini-3.8-flash", "structured_output", "native", STRUCTURED),
    ("gemini", "gemini-2.5-flash", "structured_output", "native", STRUCTURED),
    ("vertex", "gemini-3.5-flash", "structured_output", "native", VERTEX_STRUCTURED),
    ("gemini", "gemini-3.8-flash", "json_schema_root", "any", STRUCTURED),
    ("vertex", "gemini-2.5-pro", "json_schema_root", "any", VERTEX_STRUCTURED),
    # images and documents
    ("gemini", "gemini-3.8-flash", "image_input", True, IMAGES),
    ("vertex", "gemini-3.8-flash", "image_input", True, VERTEX_IMAGES),
    ("gemini", "gemini-2.5-flash", "document_input", True, DOCUMENTS),
    ("vertex", "gemini-2.5-flash", "document_input", True, VERTEX_DOCUMENTS),
    ("gemini", "gemini-3.8-flash", "image_types", GEMINI_IMAGES, IMAGES),
    ("vertex", "gemini-3.8-flash", "image_types", GEMINI_IMAGES, VERTEX_IMAGES),
    (
        "gemini",
        "gemini-3.8-flash",
        "document_types",
        ["application/pdf", "text/plain", "text/csv", "text/html", "text/markdown"],
        DOCUMENTS,
    ),
    (
        "vertex",
        "gemini-3.8-flash",
        "document_types",
        ["application/pdf", "text/plain"],
        VERTEX_DOCUMENTS,
    ),
    # sizes: Gemini API inline payloads up to 100 MB of base64 (75 MiB of bytes), PDFs 50 MB;
    # Vertex AI 7 MB per inline image, 50 MB per document
    ("gemini", "gemini-3.8-flash", "max_image_bytes", 78643200, FILE_LIMITS),
    ("gemini", "gemini-3.8-flash", "max_document_bytes", 52428800, FILE_LIMITS),
    ("vertex", "gemini-3.8-flash", "max_image_bytes", 7340032, VERTEX_IMAGES),
    ("vertex", "gemini-3.8-flash", "max_document_bytes", 52428800, VERTEX_DOCUMENTS),
    # URLs: both fetch https URLs themselves (the Gemini API from Gemini 3; not Gemini 2.0)
    ("gemini", "gemini-3.8-flash", "image_urls", True, FILE_LIMITS),
    ("gemini", "gemini-2.0-flash", "image_urls", False, FILE_LIMITS),
    ("vertex", "gemini-2.5-flash", "image_urls", True, VERTEX_FILES),
    # media in tool results: multimodal function responses are Gemini 3's
    ("gemini", "gemini-3.8-flash", "tool_result_media", True, FUNCTION_CALLING),
    ("vertex", "gemini-3.5-flash", "tool_result_media", True, FUNCTION_CALLING),
    ("gemini", "gemini-2.5-flash", "tool_result_media", False, FUNCTION_CALLING),
    ("vertex", "gemini-2.5-pro", "tool_result_media", False, FUNCTION_CALLING),
    # prompt caching is implicit: cache_control is dropped with a warning
    ("gemini", "gemini-3.8-flash", "prompt_caching", "implicit", CACHING),
    ("vertex", "gemini-2.5-flash", "prompt_caching", "implicit", VERTEX_CACHING),
]


@pytest.mark.parametrize(
    ("provider_type", "model", "field", "value", "source"),
    FACTS,
    ids=[f"{t}:{m}:{f}" for t, m, f, _, _ in FACTS],
)
def test_fact(provider_type: str, model: str, field: str, value: Any, source: str) -> None:
    caps = capabilities(provider_type, model)
    got = getattr(caps, field)
    assert value == (list(got) if isinstance(got, (tuple, frozenset)) else got)
    assert caps.source is not None and source in caps.source
