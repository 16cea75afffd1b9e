"""Issue 14's image, document and prompt-caching acceptance, over the emulator's real sockets.

``llmorch.image()`` / ``llmorch.document()`` build parts from a path, bytes or a URL; the parts
reach every vendor as its own blocks; bad input (a malformed data URL, an unsupported media
type, an image over the vendor's limit, an https URL for Bedrock) fails before any network call
with the path in the message; ``cache_control`` becomes the vendor's cache marks, or a warning
where the vendor caches implicitly.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmorch
from llmorch import AsyncLLMOrchestrator, InvalidRequestError
from llmorch.capabilities import capabilities
from llmorch.testing import ProviderEmulator, RecordedRequest, Reply
from tests import emulated

CASES = [
    ("openai", "gpt-5.4-mini"),
    ("anthropic", "claude-haiku-5-5"),
    ("gemini", "gemini-3.8-flash"),
    ("vertex", "gemini-3.8-flash"),
    ("vertex", "claude-haiku-5-5"),
    ("bedrock", "us.anthropic.claude-haiku-5-5"),
]
IDS = [f"{d}-{m}" for d, m in CASES]


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid RGBA PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png()
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    with ProviderEmulator() as emulator:
        yield emulator


@pytest.fixture
def fresh(emu: ProviderEmulator) -> ProviderEmulator:
    emu.clear()
    return emu


def orch_for(
    emu: ProviderEmulator, dialect: str, model: str, tmp: Path, **provider: Any
) -> AsyncLLMOrchestrator:
    return emulated.orch_for(emu, dialect, model, tmp / "ledger.jsonl", **provider)


def chats(emu: ProviderEmulator, model: str) -> list[RecordedRequest]:
    return [r for r in emu.requests if r.model == model and r.body is not None]


def user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "Look at this."}, *parts]}]


# --------------------------------------------------------------------------- the helpers


def test_image_from_a_path_bytes_and_a_url(tmp_path: Path) -> None:
    """A path and bytes become a PNG data URL with the same bytes; a URL stays as given."""
    (tmp_path / "red.png").write_bytes(PNG)
    expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
    from_path = llmorch.image(tmp_path / "red.png")
    from_str_path = llmorch.image(str(tmp_path / "red.png"))
    from_bytes = llmorch.image(PNG, detail="high")
    from_url = llmorch.image("https://example.com/images/cat.webp")
    assert from_path == from_str_path == {"type": "image_url", "image_url": {"url": expected}}
    assert from_bytes == {"type": "image_url", "image_url": {"url": expected, "detail": "high"}}
    assert from_url == {
        "type": "image_url",
        "image_url": {"url": "https://example.com/images/cat.webp"},
    }


def test_document_from_a_path_and_bytes(tmp_path: Path) -> None:
    """A path gives its filename; bytes take one when given; the type is sniffed."""
    (tmp_path / "report.pdf").write_bytes(PDF)
    data_url = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    from_path = llmorch.document(tmp_path / "report.pdf")
    assert from_path == {"type": "file", "file": {"file_data": data_url, "filename": "report.pdf"}}
    from_bytes = llmorch.document(PDF, filename="q3.pdf")
    assert from_bytes["file"] == {"file_data": data_url, "filename": "q3.pdf"}
    text = llmorch.document(b"a,b\n1,2\n", filename="t.csv", media_type="text/csv")
    assert text["file"]["file_data"].startswith("data:text/csv;base64,")


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    """image() of a path that does not exist says which."""
    with pytest.raises((FileNotFoundError, InvalidRequestError), match="nothere.png"):
        llmorch.image(tmp_path / "nothere.png")


# --------------------------------------------------------------------------- over the wire


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_an_image_reaches_every_vendor_as_bytes(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The PNG's bytes travel in the vendor's own image block (base64 in JSON)."""
    fresh.script(dialect, model, Reply("A red square."))
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        response = await orch.send_request(user(llmorch.image(PNG)))
    assert response.content == "A red square."
    (request,) = chats(fresh, model)
    assert base64.b64encode(PNG).decode() in json.dumps(request.body)


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_declared_type_that_disagrees_with_the_bytes_is_corrected(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """A PNG labelled image/jpeg goes out as image/png (a vendor checks the bytes)."""
    fresh.script(dialect, model, Reply("ok"))
    url = "data:image/jpeg;base64," + base64.b64encode(PNG).decode()
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        await orch.send_request(user({"type": "image_url", "image_url": {"url": url}}))
    body = json.dumps(chats(fresh, model)[0].body)
    assert "image/jpeg" not in body and '"jpeg"' not in body
    assert "image/png" in body or '"png"' in body


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_a_pdf_reaches_every_vendor(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """The PDF's bytes travel in the vendor's own document block."""
    fresh.script(dialect, model, Reply("An empty PDF."))
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        response = await orch.send_request(user(llmorch.document(PDF, filename="empty.pdf")))
    assert response.content == "An empty PDF."
    (request,) = chats(fresh, model)
    assert base64.b64encode(PDF).decode() in json.dumps(request.body)


@pytest.mark.parametrize(("dialect", "model"), [CASES[0], CASES[1]], ids=IDS[:2])
async def test_an_https_image_goes_to_vendors_that_fetch_urls(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """OpenAI and Anthropic fetch URLs themselves: the URL is sent, never downloaded."""
    url = "https://example.com/images/cat.png"
    fresh.script(dialect, model, Reply("A cat."))
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        await orch.send_request(user(llmorch.image(url)))
    assert url in json.dumps(chats(fresh, model)[0].body)


# --------------------------------------------------------------------------- bad input

BAD_PARTS = [
    (
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not base64@@"}},
        "messages[0].content[1].image_url",
    ),
    (
        {"type": "image_url", "image_url": {"url": "data:image/png,no-base64-marker"}},
        "messages[0].content[1].image_url",
    ),
    (
        {
            "type": "image_url",
            "image_url": {
                "url": "data:image/bmp;base64," + base64.b64encode(b"BM" + bytes(60)).decode()
            },
        },
        "messages[0].content[1].image_url",
    ),
    (
        {"type": "file", "file": {"file_data": "data:application/x-msdownload;base64,TVqQAAMA"}},
        "messages[0].content[1].file",
    ),
    (
        {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}},
        "messages[0].content[1].image_url",
    ),
]


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
@pytest.mark.parametrize(("part", "path"), BAD_PARTS, ids=range(len(BAD_PARTS)))
async def test_a_bad_part_fails_before_any_call(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str, part: Any, path: str
) -> None:
    """Malformed data URLs and unsupported media types name the part's path."""
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        with pytest.raises(InvalidRequestError) as info:
            await orch.send_request(user(part))
    assert path in str(info.value)
    assert chats(fresh, model) == []


@pytest.mark.parametrize(("dialect", "model"), CASES, ids=IDS)
async def test_media_in_a_system_message_is_refused(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """System messages take text parts only."""
    messages = [
        {"role": "system", "content": [llmorch.image(PNG)]},
        {"role": "user", "content": "Hi"},
    ]
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content\[0\]"):
            await orch.send_request(messages)
    assert chats(fresh, model) == []


BEDROCK = "us.anthropic.claude-haiku-5-5"


async def test_an_image_over_bedrocks_limit_fails_before_any_call(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """One byte over the table's max_image_bytes: refused with the path and the limit."""
    limit = capabilities("bedrock", BEDROCK).max_image_bytes
    assert limit is not None
    big = PNG + bytes(limit + 1 - len(PNG))
    async with orch_for(fresh, "bedrock", BEDROCK, tmp_path) as orch:
        with pytest.raises(InvalidRequestError) as info:
            await orch.send_request(user(llmorch.image(big)))
    assert str(info.value).startswith("messages[0].content[1].image_url.url: the image is ")
    assert "at most" in str(info.value)
    assert chats(fresh, BEDROCK) == []


async def test_an_image_at_bedrocks_limit_is_sent(fresh: ProviderEmulator, tmp_path: Path) -> None:
    """Exactly max_image_bytes passes the check (the limit is inclusive)."""
    limit = capabilities("bedrock", BEDROCK).max_image_bytes
    assert limit is not None
    fresh.script("bedrock", BEDROCK, Reply("big"))
    async with orch_for(fresh, "bedrock", BEDROCK, tmp_path) as orch:
        response = await orch.send_request(user(llmorch.image(PNG + bytes(limit - len(PNG)))))
    assert response.content == "big"


async def test_an_https_image_for_bedrock_says_to_pass_bytes(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """Bedrock does not fetch URLs and llmorch never downloads one: refused before any call."""
    async with orch_for(fresh, "bedrock", BEDROCK, tmp_path) as orch:
        with pytest.raises(InvalidRequestError, match="pass the image's bytes") as info:
            await orch.send_request(user(llmorch.image("https://example.com/cat.png")))
    assert "messages[0].content[1].image_url" in str(info.value)
    assert chats(fresh, BEDROCK) == []


# --------------------------------------------------------------------------- prompt caching

LONG = "You are a careful assistant. " * 200


def cached_system(ttl: str | None = None) -> list[dict[str, Any]]:
    mark: dict[str, Any] = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    return [
        {"role": "system", "content": [{"type": "text", "text": LONG, "cache_control": mark}]},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.parametrize(
    ("dialect", "model"), [CASES[1], CASES[4]], ids=["anthropic", "vertex-claude"]
)
async def test_cache_control_becomes_anthropics_mark(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """Anthropic gets cache_control on the same block, ttl included; no warning."""
    fresh.script(dialect, model, Reply("Hello."))
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        response = await orch.send_request(cached_system("1h"))
    assert response.warnings == []
    system = chats(fresh, model)[0].body["system"]
    assert system[-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


async def test_cache_control_becomes_a_bedrock_cache_point(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """Bedrock gets a cachePoint block after the marked system text."""
    fresh.script("bedrock", BEDROCK, Reply("Hello."))
    async with orch_for(fresh, "bedrock", BEDROCK, tmp_path) as orch:
        response = await orch.send_request(cached_system())
    assert response.warnings == []
    system = chats(fresh, BEDROCK)[0].body["system"]
    assert system[0]["text"] == LONG
    assert system[1]["cachePoint"]["type"] == "default"


@pytest.mark.parametrize(("dialect", "model"), [CASES[0], CASES[2]], ids=["openai", "gemini"])
async def test_cache_control_where_caching_is_implicit(
    fresh: ProviderEmulator, tmp_path: Path, dialect: str, model: str
) -> None:
    """OpenAI and Gemini cache by themselves: the mark is removed with a warning; ``error``
    refuses the call instead."""
    fresh.script(dialect, model, Reply("Hello."))
    async with orch_for(fresh, dialect, model, tmp_path) as orch:
        response = await orch.send_request(cached_system())
    assert any("cache_control" in w for w in response.warnings), response.warnings
    (request,) = chats(fresh, model)
    assert "cache_control" not in json.dumps(request.body)
    assert LONG.strip() in json.dumps(request.body)
    async with orch_for(fresh, dialect, model, tmp_path, unsupported="error") as orch:
        with pytest.raises(InvalidRequestError, match="cache_control"):
            await orch.send_request(cached_system())
    assert len(chats(fresh, model)) == 1


# --------------------------------------------------------------------------- media in tool results

SNAP = {
    "type": "function",
    "function": {
        "name": "snap",
        "description": "Take a picture.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def with_tool_image() -> list[dict[str, Any]]:
    call = {"id": "call_1", "type": "function", "function": {"name": "snap", "arguments": "{}"}}
    return [
        {"role": "user", "content": "Take a picture and describe it."},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": [llmorch.image(PNG)]},
    ]


@pytest.mark.parametrize(
    "model", ["us.anthropic.claude-haiku-5-5", "us.amazon.nova-2-lite-v1:0"], ids=["claude", "nova"]
)
async def test_bedrock_takes_tool_result_images_from_claude_and_nova(
    fresh: ProviderEmulator, tmp_path: Path, model: str
) -> None:
    """The image goes back inside the toolResult, as bytes."""
    fresh.script("bedrock", model, Reply("A red square."))
    async with orch_for(fresh, "bedrock", model, tmp_path) as orch:
        response = await orch.send_request(with_tool_image(), tools=[SNAP])
    assert response.content == "A red square."
    body = chats(fresh, model)[0].body
    (result,) = [
        b["toolResult"] for m in body["messages"] for b in m["content"] if "toolResult" in b
    ]
    assert base64.b64encode(PNG).decode() in json.dumps(result)


async def test_bedrock_refuses_tool_result_images_for_other_models(
    fresh: ProviderEmulator, tmp_path: Path
) -> None:
    """Other Bedrock models take only text in tool results: refused before any call."""
    model = "openai.gpt-oss-120b-1:0"
    async with orch_for(fresh, "bedrock", model, tmp_path) as orch:
        with pytest.raises(InvalidRequestError, match=r"^messages\[2\]\.content\[0\]"):
            await orch.send_request(with_tool_image(), tools=[SNAP])
    assert chats(fresh, model) == []
