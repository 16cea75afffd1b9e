"""Content parts: image and document parts, data URLs, media sniffing, cache_control (SPEC §2.9)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import llmorch
from llmorch import InvalidRequestError
from llmorch.messages import validate_messages
from llmorch.parts import CacheControl, DocumentPart, ImagePart, TextPart, sniff_media_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
PDF = b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n"


def user(*parts: object) -> list[dict[str, object]]:
    return [{"role": "user", "content": list(parts)}]


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00", "image/heif"),
        (PDF, "application/pdf"),
        (b"plain words", None),
    ],
)
def test_sniffing_recognises_the_formats_by_their_first_bytes(
    data: bytes, expected: str | None
) -> None:
    assert sniff_media_type(data) == expected


def test_a_data_url_image_is_decoded_to_bytes_and_its_type_corrected_from_the_bytes() -> None:
    (message,) = validate_messages(
        user(
            {"type": "text", "text": "what is this?"},
            {
                "type": "image_url",
                "image_url": {"url": data_url("image/png", JPEG), "detail": "low"},
            },
        )
    )
    text, picture = message.parts
    assert text == TextPart("what is this?")
    assert picture == ImagePart("image/jpeg", data=JPEG, detail="low")
    assert picture.base64 == base64.b64encode(JPEG).decode()
    assert picture.data_url.startswith("data:image/jpeg;base64,")
    assert message.text == "what is this?"


def test_an_https_image_keeps_its_url_and_guesses_the_type_from_the_path() -> None:
    (message,) = validate_messages(
        user({"type": "image_url", "image_url": {"url": "https://x.test/cat.PNG?size=2"}})
    )
    (picture,) = message.parts
    assert picture == ImagePart("image/png", url="https://x.test/cat.PNG?size=2")
    assert isinstance(picture, ImagePart) and picture.base64 == ""
    assert picture.data_url == "https://x.test/cat.PNG?size=2"


def test_a_document_part_from_a_data_url() -> None:
    (message,) = validate_messages(
        user(
            {
                "type": "file",
                "file": {"file_data": data_url("application/pdf", PDF), "filename": "a.pdf"},
            }
        )
    )
    assert message.parts == (DocumentPart("application/pdf", PDF, "a.pdf"),)


def test_a_text_document_takes_its_type_from_the_data_url_or_the_file_name() -> None:
    (message,) = validate_messages(
        user({"type": "file", "file": {"file_data": "data:;base64,aGk=", "filename": "notes.md"}})
    )
    assert message.parts == (DocumentPart("text/markdown", b"hi", "notes.md"),)


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,base64,xx"}},
            "messages[0].content[0].image_url.url: the data is not valid image/png",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}},
            "messages[0].content[0].image_url.url: the data URL's base64 is invalid",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64"}},
            "messages[0].content[0].image_url.url: malformed data URL",
        ),
        (
            {"type": "image_url", "image_url": {"url": data_url("image/tiff", b"II*\x00")}},
            "unsupported media type for an image (image/tiff)",
        ),
        (
            {"type": "image_url", "image_url": {"url": "ftp://x/a.png"}},
            "messages[0].content[0].image_url.url: not an https or data URL",
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "max"}},
            "messages[0].content[0].image_url.detail: must be 'auto', 'low' or 'high'",
        ),
        (
            {"type": "file", "file": {"file_id": "file-1"}},
            "messages[0].content[0].file.file_id: uploaded file ids are vendor-specific",
        ),
        (
            {"type": "file", "file": {"file_data": "https://x/a.pdf"}},
            "messages[0].content[0].file.file_data: must be a data URL",
        ),
        (
            {"type": "file", "file": {"file_data": data_url("application/zip", b"PK\x03\x04")}},
            "messages[0].content[0].file.file_data: unsupported media type for a document",
        ),
        (
            {"type": "text", "text": "a", "cache_control": {"type": "persistent"}},
            "messages[0].content[0].cache_control: must be {'type': 'ephemeral'",
        ),
        (
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral", "ttl": "1d"}},
            "messages[0].content[0].cache_control.ttl: must be '5m' or '1h'",
        ),
        (
            {"type": "input_audio", "input_audio": {}},
            "messages[0].content[0].type: 'input_audio' (audio input) is not supported",
        ),
    ],
)
def test_bad_parts_fail_before_any_call_with_their_path(part: object, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_messages(user(part))
    assert message in str(caught.value)


def test_media_parts_go_only_in_user_and_tool_turns() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\].content\[0\].type: 'image_url' "
                       "parts go in user and tool turns only, not in a 'system' turn"):  # fmt: skip
        validate_messages(
            [{"role": "system", "content": [llmorch.image(PNG)]}, {"role": "user", "content": "x"}]
        )


def test_cache_control_on_parts_messages_and_tools() -> None:
    system, question = validate_messages(
        [
            {"role": "system", "content": "long rules", "cache_control": {"type": "ephemeral"}},
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "a",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    },
                    {"type": "text", "text": "b"},
                ],
            },
        ]
    )
    assert system.parts == (TextPart("long rules", CacheControl()),)
    assert question.parts == (TextPart("a", CacheControl("1h")), TextPart("b"))
    from llmorch.tools import validate_tools

    (tool,) = validate_tools(
        [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}},
                "cache_control": {"type": "ephemeral", "ttl": "5m"},
            }
        ]
    )
    assert tool.cache == CacheControl("5m")


def test_image_helper_from_bytes_path_and_url(tmp_path: Path) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(PNG)
    assert llmorch.image(PNG) == {
        "type": "image_url",
        "image_url": {"url": data_url("image/png", PNG)},
    }
    assert llmorch.image(path, detail="high") == {
        "type": "image_url",
        "image_url": {"url": data_url("image/png", PNG), "detail": "high"},
    }
    assert llmorch.image(str(path))["image_url"]["url"] == data_url("image/png", PNG)
    url = "https://x.test/a.jpg"
    assert llmorch.image(url) == {"type": "image_url", "image_url": {"url": url}}
    (message,) = validate_messages(user(llmorch.image(path)))
    assert message.parts == (ImagePart("image/png", data=PNG),)


def test_document_helper_from_bytes_and_path(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(PDF)
    part = llmorch.document(path)
    assert part == {
        "type": "file",
        "file": {"file_data": data_url("application/pdf", PDF), "filename": "report.pdf"},
    }
    text = llmorch.document(b"a,b\n1,2\n", filename="t.csv")
    (message,) = validate_messages(user(text))
    assert message.parts == (DocumentPart("text/csv", b"a,b\n1,2\n", "t.csv"),)


def test_helpers_refuse_what_they_cannot_build(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="image\\(\\): unsupported media type"):
        llmorch.image(b"not an image")
    with pytest.raises(InvalidRequestError, match="document\\(\\): llmorch never downloads a URL"):
        llmorch.document("https://x.test/a.pdf")
    with pytest.raises(InvalidRequestError, match="cannot read"):
        llmorch.document(tmp_path / "missing.pdf")
    with pytest.raises(InvalidRequestError, match="unsupported media type for a document"):
        llmorch.document(b"\x00\x01binary")
