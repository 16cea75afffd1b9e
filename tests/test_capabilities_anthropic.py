"""The capability table's facts for Anthropic and Claude on Vertex AI: one test per fact.

Each fact is checked against the table, and where the emulator encodes the same rule on its
own (from the vendor's documents and 400s), against the emulator too: a wrong fact shared by
both would hide itself, so the two are written apart and compared here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmorch import AsyncLLMOrchestrator, OrchestratorConfig, image
from llmorch.capabilities import capabilities
from llmorch.exceptions import InvalidRequestError
from llmorch.fit import fit
from llmorch.messages import validate_messages
from llmorch.output import plan_output, validate_response_format
from llmorch.request import ChatRequest
from llmorch.testing import ProviderEmulator
from llmorch.testing._anthropic_parts import MAX_IMAGE_BASE64
from llmorch.testing._anthropic_rules import deprecated_sampling
from llmorch.testing._anthropic_schema import IMAGE_TYPES

CLAUDE_TYPES = ("anthropic", "vertex")
REFUSE_SAMPLING = [
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-opus-5",
    "claude-sonnet-5-5",
    "claude-haiku-5-5",
    "claude-fable-5",
]
TAKE_SAMPLING = ["claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5-20250929"]
NO_NATIVE_OUTPUT = [
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
    "claude-sonnet-4-20250514",
    "claude-opus-4-20250514",
    "claude-opus-4-1-20250805",
]
NATIVE_OUTPUT = [
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-5-20251101",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-sonnet-5-5",
]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize("provider_type", CLAUDE_TYPES)
@pytest.mark.parametrize("model", REFUSE_SAMPLING + TAKE_SAMPLING)
def test_opus_4_7_and_claude_5_reject_temperature_and_top_p(provider_type: str, model: str) -> None:
    """Fact: rejects [temperature, top_p] from Opus 4.7 and on Claude 5, and only there."""
    rejects = capabilities(provider_type, model).rejects
    refused = model in REFUSE_SAMPLING
    assert ({"temperature", "top_p"} if refused else set()) == rejects
    assert "top_k" not in rejects
    assert refused == deprecated_sampling(model)  # the emulator's own rule agrees


async def test_rejected_temperature_is_removed_before_the_emulator_refuses_it(
    emu: ProviderEmulator,
) -> None:
    """The table keeps llmorch's call from the 400 the emulator (like Anthropic) answers."""
    config = OrchestratorConfig.from_dict(
        {
            "active_provider": "anthropic",
            "active_model": "claude-haiku-5-5",
            "providers": {"anthropic": emu.config_for("anthropic") | {"fallback_models": []}},
            "model_discovery": {"refresh_on_start": False, "cache_path": None},
            "cost_tracking": {"enabled": False},
        }
    )
    async with AsyncLLMOrchestrator(config) as orch:
        answer = await orch.send_request([{"role": "user", "content": "hi"}], temperature=0.2)
    assert any(w.startswith("temperature removed") for w in answer.warnings)
    assert "temperature" not in emu.requests[-1].body


@pytest.mark.parametrize("provider_type", CLAUDE_TYPES)
@pytest.mark.parametrize("model", NO_NATIVE_OUTPUT)
def test_claude_before_4_5_gets_the_output_tool(provider_type: str, model: str) -> None:
    """Fact: structured_output tool on Claude 3.x, Sonnet 4, Opus 4 and Opus 4.1."""
    assert "tool" == capabilities(provider_type, model).structured_output


@pytest.mark.parametrize("model", NATIVE_OUTPUT)
def test_claude_4_5_and_later_take_output_config_natively(model: str) -> None:
    """Fact: structured_output native on the Claude API from Sonnet 4.5 / Opus 4.5 / Haiku 4.5."""
    assert "native" == capabilities("anthropic", model).structured_output


@pytest.mark.parametrize(
    ("model", "mode"),
    [
        ("claude-sonnet-4-5@20250929", "tool"),
        ("claude-haiku-4-5@20251001", "tool"),
        ("claude-opus-4-5@20251101", "tool"),
        ("claude-opus-4-6", "native"),
        ("claude-sonnet-4-6", "native"),
        ("claude-opus-4-7", "native"),
    ],
)
def test_vertex_lists_structured_output_from_the_4_6_models(model: str, mode: str) -> None:
    """Fact: on Vertex AI the 4.5 models are still "coming soon": the forced tool there."""
    assert mode == capabilities("vertex", model).structured_output


@pytest.mark.parametrize("provider_type", CLAUDE_TYPES)
def test_any_root_is_native(provider_type: str) -> None:
    """Fact: json_schema_root any (an array root is recorded): no wrapping."""
    assert "any" == capabilities(provider_type, "claude-sonnet-5-5").json_schema_root
    fmt = validate_response_format(list[int])
    assert fmt is not None
    plan = plan_output(fmt, provider_type, "claude-sonnet-5-5")
    assert ("native", False) == (plan.mode, plan.wrapped)
    assert "array" == (plan.schema or {})["type"]


@pytest.mark.parametrize("provider_type", CLAUDE_TYPES)
def test_images_documents_and_tool_result_media_are_taken(provider_type: str) -> None:
    """Facts: image_input, document_input and tool_result_media are true for Claude."""
    caps = capabilities(provider_type, "claude-opus-4-6")
    assert (True, True, True) == (caps.image_input, caps.document_input, caps.tool_result_media)


def test_image_types_are_the_four_anthropic_takes() -> None:
    """Fact: image_types jpeg, png, gif, webp (the SDK's Literal; the emulator's list too)."""
    for provider_type in CLAUDE_TYPES:
        types = capabilities(provider_type, "claude-haiku-4-5-20251001").image_types
        assert set(IMAGE_TYPES) == set(types or ())


def test_document_types_are_pdf_and_plain_text() -> None:
    """Fact: document_types application/pdf and text/plain."""
    for provider_type in CLAUDE_TYPES:
        types = capabilities(provider_type, "claude-opus-4-6").document_types
        assert ("application/pdf", "text/plain") == types


def test_max_image_bytes_is_5_mb_of_base64() -> None:
    """Fact: max_image_bytes 3,932,160: the 5 MB limit counts base64 characters."""
    limit = capabilities("anthropic", "claude-opus-4-6").max_image_bytes
    assert 3_932_160 == limit == MAX_IMAGE_BASE64 * 3 // 4
    assert len(base64.b64encode(bytes(limit or 0))) == MAX_IMAGE_BASE64
    request = ChatRequest(
        validate_messages([{"role": "user", "content": [image(PNG + bytes(limit or 0))]}]),
        "claude-opus-4-6",
    )
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]\.image_url"):
        fit(request, "anthropic")


def test_max_document_bytes_leaves_the_base64_inside_32_mb() -> None:
    """Fact: max_document_bytes 24 MiB (its base64 is 32 MiB, the request limit)."""
    limit = capabilities("anthropic", "claude-opus-4-6").max_document_bytes
    assert 25_165_824 == limit
    assert 32 * 1024 * 1024 == len(base64.b64encode(bytes(limit or 0)))


def test_image_urls_on_the_claude_api_but_not_on_vertex() -> None:
    """Fact: image_urls true on Anthropic, false for Claude on Vertex AI (bytes only)."""
    assert capabilities("anthropic", "claude-opus-4-6").image_urls is True
    assert capabilities("vertex", "claude-opus-4-6").image_urls is False
    request = ChatRequest(
        validate_messages([{"role": "user", "content": [image("https://x.test/a.png")]}]),
        "claude-opus-4-6",
    )
    assert request.messages == fit(request, "anthropic").messages
    with pytest.raises(InvalidRequestError, match="pass the image's bytes"):
        fit(request, "vertex")


@pytest.mark.parametrize("provider_type", CLAUDE_TYPES)
def test_prompt_caching_is_explicit(provider_type: str) -> None:
    """Fact: prompt_caching explicit: cache_control is sent, with no warning."""
    assert "explicit" == capabilities(provider_type, "claude-sonnet-4-5-20250929").prompt_caching
    marked = {"role": "user", "content": "long", "cache_control": {"type": "ephemeral"}}
    request = ChatRequest(validate_messages([marked]), "claude-sonnet-4-5-20250929")
    assert () == fit(request, provider_type).warnings


async def test_claude_on_vertex_learns_a_refused_parameter_from_its_400(tmp_path: Path) -> None:
    """A Claude model newer than the table: the emulator refuses temperature as Claude does (its
    own rule), llmorch retries once without it and leaves it out from then on (SPEC §2.10)."""
    from llmorch.capabilities import capabilities, forget_learned
    from llmorch.testing import ProviderEmulator, Reply
    from tests.emulated import orch_for

    model = "claude-opus-6"  # newer than the table
    assert "temperature" not in capabilities("vertex", model).rejects
    forget_learned()
    try:
        async with ProviderEmulator() as emu:
            emu.script("vertex", model, Reply("one"), Reply("two"))
            ask = [{"role": "user", "content": "hi"}]
            async with orch_for(emu, "vertex", model, tmp_path / "ledger.jsonl") as orch:
                first = await orch.send_request(ask, temperature=0.5)
                second = await orch.send_request(ask, temperature=0.5)
            sent = [r.body for r in emu.requests if "rawPredict" in r.path]
    finally:
        forget_learned()
    assert (first.content, second.content) == ("one", "two")
    assert [("temperature" in body) for body in sent] == [True, False, False]
    assert "temperature removed" in first.warnings[0]
    assert second.warnings == first.warnings
