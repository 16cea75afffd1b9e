"""Content parts (SPEC §2.9): text, images and documents, and the helpers that build them.

Callers write parts in the OpenAI Chat shape (``{"type": "image_url", "image_url": {"url"}}``,
``{"type": "file", "file": {"file_data"}}``); :func:`parse_part` turns one into a typed part
before any network call: a data URL is decoded and its media type checked against the bytes, so
every codec gets bytes it can send as the vendor wants them (base64, raw bytes, a URL).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmorch.exceptions import InvalidRequestError

__all__ = [
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "CacheControl",
    "DocumentPart",
    "ImagePart",
    "Part",
    "TextPart",
    "document",
    "image",
    "parse_cache_control",
    "parse_part",
    "sniff_media_type",
]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif")
"""The image media types llmorch accepts (each vendor's row in the table narrows them)."""

DOCUMENT_TYPES = (
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/html",
    "text/markdown",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
"""The document media types llmorch accepts (each vendor's row in the table narrows them)."""

_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".html": "text/html",
    ".htm": "text/html",
    ".md": "text/markdown",
    ".doc": "application/msword",
    ".docx": DOCUMENT_TYPES[5],
    ".xls": "application/vnd.ms-excel",
    ".xlsx": DOCUMENT_TYPES[8],
}
_DATA_URL = re.compile(
    r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,"
)
_SNIFFABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
_TTLS = ("5m", "1h")
_DETAILS = ("auto", "low", "high")


@dataclass(frozen=True, slots=True)
class CacheControl:
    """A prompt-cache breakpoint after the part (or tool, or message) that carries it.

    Attributes:
        ttl: ``"5m"`` or ``"1h"``; ``None`` keeps the vendor's default (5 minutes).
    """

    ttl: Literal["5m", "1h"] | None = None


@dataclass(frozen=True, slots=True)
class TextPart:
    """A text content part.

    Attributes:
        text: The text.
        cache: A cache breakpoint after this part, if asked for.
    """

    text: str
    cache: CacheControl | None = None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image: bytes (from a data URL, a file or the caller) or an https URL the vendor fetches.

    Attributes:
        media_type: ``image/png``, ``image/jpeg``, ... (for a URL: from its extension, or ``""``).
        data: The image bytes (``None`` for a URL).
        url: The https URL (``None`` for bytes).
        detail: OpenAI's ``detail`` (``auto``, ``low``, ``high``), when given.
        cache: A cache breakpoint after this part, if asked for.
    """

    media_type: str
    data: bytes | None = None
    url: str | None = None
    detail: Literal["auto", "low", "high"] | None = None
    cache: CacheControl | None = None

    @property
    def base64(self) -> str:
        """The bytes as base64 (``""`` for a URL part)."""
        return base64.b64encode(self.data).decode("ascii") if self.data is not None else ""

    @property
    def data_url(self) -> str:
        """The bytes as a data URL, or the URL itself for a URL part."""
        if self.data is None:
            return self.url or ""
        return f"data:{self.media_type};base64,{self.base64}"


@dataclass(frozen=True, slots=True)
class DocumentPart:
    """A document (a PDF, a text file, ...), always as bytes.

    Attributes:
        media_type: ``application/pdf``, ``text/plain``, ...
        data: The document's bytes.
        filename: The file name, when given (some vendors need one: llmorch makes one up).
        cache: A cache breakpoint after this part, if asked for.
    """

    media_type: str
    data: bytes
    filename: str | None = None
    cache: CacheControl | None = None

    @property
    def base64(self) -> str:
        """The bytes as base64."""
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        """The bytes as a data URL."""
        return f"data:{self.media_type};base64,{self.base64}"


Part = TextPart | ImagePart | DocumentPart
"""A content part."""


def sniff_media_type(data: bytes) -> str | None:
    """Recognise an image or PDF from its first bytes.

    Args:
        data: The file's bytes.

    Returns:
        ``image/png``, ``image/jpeg``, ``image/gif``, ``image/webp``, ``image/heic``,
        ``image/heif`` or ``application/pdf``; ``None`` when the bytes are none of those.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"mif1", b"msf1", b"heif"):
            return "image/heif"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def decode_data_url(url: str, where: str) -> tuple[str, bytes]:
    """Split a data URL into its media type and bytes.

    Args:
        url: ``data:<type>[;base64],<data>``.
        where: The path to name in an error.

    Returns:
        The declared media type (``""`` when none is declared) and the decoded bytes.

    Raises:
        InvalidRequestError: Not a well-formed data URL, or base64 that does not decode.
    """
    head = _DATA_URL.match(url)
    if head is None:
        raise InvalidRequestError(
            f"{where}: malformed data URL (expected 'data:<media type>;base64,<data>')"
        )
    payload = url[head.end() :]
    if not payload:
        raise InvalidRequestError(f"{where}: the data URL carries no data")
    if head.group("b64"):
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequestError(f"{where}: the data URL's base64 is invalid ({exc})") from exc
    else:
        from urllib.parse import unquote_to_bytes

        data = unquote_to_bytes(payload)
    return (head.group("type") or "").lower(), data


def parse_cache_control(value: object, where: str) -> CacheControl:
    """Check a ``cache_control`` value: ``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``.

    Args:
        value: What the caller wrote.
        where: The path to name in an error.

    Returns:
        The breakpoint.

    Raises:
        InvalidRequestError: Another shape, type or ttl.
    """
    if not isinstance(value, Mapping) or value.get("type") != "ephemeral":
        raise InvalidRequestError(
            f"{where}: must be {{'type': 'ephemeral', 'ttl'?: '5m' | '1h'}}, got {value!r}"
        )
    extra = set(value) - {"type", "ttl"}
    if extra:
        raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}")
    ttl = value.get("ttl")
    if ttl is not None and ttl not in _TTLS:
        raise InvalidRequestError(f"{where}.ttl: must be '5m' or '1h', got {ttl!r}")
    return CacheControl(ttl)


def _media_type(declared: str, data: bytes, known: tuple[str, ...], where: str, what: str) -> str:
    sniffed = sniff_media_type(data)
    if sniffed is None and declared in _SNIFFABLE:
        raise InvalidRequestError(
            f"{where}: the data is not valid {declared} (its first bytes are not that format's)"
        )
    media_type = sniffed if sniffed in known else declared
    if media_type not in known:
        shown = declared or "none given and the bytes are not recognised"
        raise InvalidRequestError(
            f"{where}: unsupported media type for {what} ({shown}); llmorch takes "
            + ", ".join(known)
        )
    return media_type


def _image(body: object, cache: CacheControl | None, where: str) -> ImagePart:
    if not isinstance(body, Mapping):
        raise InvalidRequestError(f"{where}: must be a dict with 'url'")
    extra = set(body) - {"url", "detail"}
    if extra:
        raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}")
    url, detail = body.get("url"), body.get("detail")
    if detail is not None and detail not in _DETAILS:
        raise InvalidRequestError(f"{where}.detail: must be 'auto', 'low' or 'high'")
    if not isinstance(url, str):
        raise InvalidRequestError(f"{where}.url: must be a str (an https or data URL)")
    if url.startswith("data:"):
        declared, data = decode_data_url(url, f"{where}.url")
        if not data:
            raise InvalidRequestError(f"{where}.url: the image is empty")
        media_type = _media_type(declared, data, IMAGE_TYPES, f"{where}.url", "an image")
        return ImagePart(media_type, data=data, detail=detail, cache=cache)
    if not url.startswith("https://") or len(url) <= len("https://"):
        raise InvalidRequestError(f"{where}.url: not an https or data URL")
    suffix = os.path.splitext(url.split("?", 1)[0].split("#", 1)[0])[1].lower()
    media_type = _EXTENSIONS.get(suffix, "")
    return ImagePart(media_type, url=url, detail=detail, cache=cache)


def _document(body: object, cache: CacheControl | None, where: str) -> DocumentPart:
    if not isinstance(body, Mapping):
        raise InvalidRequestError(f"{where}: must be a dict with 'file_data'")
    extra = set(body) - {"file_data", "filename"}
    if "file_id" in extra:
        raise InvalidRequestError(
            f"{where}.file_id: uploaded file ids are vendor-specific and not supported; "
            "pass the bytes as file_data (a data URL)"
        )
    if extra:
        raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}")
    data_url, filename = body.get("file_data"), body.get("filename")
    if filename is not None and (not isinstance(filename, str) or not filename):
        raise InvalidRequestError(f"{where}.filename: must be a non-empty str")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise InvalidRequestError(f"{where}.file_data: must be a data URL (data:<type>;base64,...)")
    declared, data = decode_data_url(data_url, f"{where}.file_data")
    if not data:
        raise InvalidRequestError(f"{where}.file_data: the document is empty")
    if not declared and filename:
        declared = _EXTENSIONS.get(os.path.splitext(filename)[1].lower(), "")
    media_type = _media_type(declared, data, DOCUMENT_TYPES, f"{where}.file_data", "a document")
    return DocumentPart(media_type, data, filename, cache)


_PART_KEYS = {
    "text": frozenset({"type", "text", "cache_control"}),
    "image_url": frozenset({"type", "image_url", "cache_control"}),
    "file": frozenset({"type", "file", "cache_control"}),
}


def parse_part(part: Mapping[str, Any], where: str) -> Part:
    """Type one content part.

    Args:
        part: ``{"type": "text" | "image_url" | "file", ..., "cache_control"?}``.
        where: Its path (``messages[1].content[0]``).

    Returns:
        The typed part.

    Raises:
        InvalidRequestError: An unknown type, unexpected keys, a malformed URL or data URL, or
            an unsupported media type, naming the path.
    """
    kind = part.get("type")
    keys = _PART_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        if kind == "input_audio":
            raise InvalidRequestError(
                f"{where}.type: 'input_audio' (audio input) is not supported by llmorch yet"
            )
        raise InvalidRequestError(
            f"{where}.type: unknown part type {kind!r} (expected 'text', 'image_url' or 'file')"
        )
    extra = set(part) - keys
    if extra:
        raise InvalidRequestError(f"{where} has unexpected keys: {sorted(extra)}")
    cache = None
    if "cache_control" in part:
        cache = parse_cache_control(part["cache_control"], f"{where}.cache_control")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidRequestError(f"{where}.text: must be a str")
        return TextPart(text, cache)
    if kind == "image_url":
        return _image(part.get("image_url"), cache, f"{where}.image_url")
    return _document(part.get("file"), cache, f"{where}.file")


def _read(source: bytes | str | os.PathLike[str], what: str) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        return source, ""
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(f"{what}: cannot read {str(path)!r}: {exc.strerror}") from exc
    return data, path.name


def image(
    source: str | bytes | os.PathLike[str],
    *,
    detail: Literal["auto", "low", "high"] | None = None,
    media_type: str | None = None,
) -> dict[str, Any]:
    """An image part for a message's ``content`` list.

    Args:
        source: An https URL (the vendor fetches it; Bedrock refuses URLs), a data URL, a file
            path, or the image's bytes.
        detail: OpenAI's ``detail`` hint (other vendors ignore it).
        media_type: The media type, when the bytes are not recognised (png, jpeg, gif, webp,
            heic and heif are).

    Returns:
        ``{"type": "image_url", "image_url": {"url", "detail"?}}``.

    Raises:
        InvalidRequestError: The file cannot be read, or the media type is not an image type.
    """
    if isinstance(source, str) and source.startswith(("https://", "http://", "data:")):
        url = source
    else:
        data, name = _read(source, "image()")
        declared = media_type or _EXTENSIONS.get(os.path.splitext(name)[1].lower(), "")
        kind = _media_type(declared, data, IMAGE_TYPES, "image()", "an image")
        url = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    body: dict[str, Any] = {"url": url}
    if detail is not None:
        body["detail"] = detail
    return {"type": "image_url", "image_url": body}


def document(
    source: bytes | str | os.PathLike[str],
    *,
    filename: str | None = None,
    media_type: str | None = None,
) -> dict[str, Any]:
    """A document part (a PDF, a text or office file) for a message's ``content`` list.

    Args:
        source: A file path or the document's bytes (llmorch never downloads a URL).
        filename: The name to give the vendor (the file's name by default).
        media_type: The media type (by default from the bytes, or the file name's extension).

    Returns:
        ``{"type": "file", "file": {"file_data": data-URL, "filename"?}}``.

    Raises:
        InvalidRequestError: The file cannot be read, or the media type is not a document type.
    """
    if isinstance(source, str) and source.startswith(("https://", "http://")):
        raise InvalidRequestError(
            "document(): llmorch never downloads a URL; pass the file's path or its bytes"
        )
    data, name = _read(source, "document()")
    filename = filename or name or None
    declared = media_type or _EXTENSIONS.get(os.path.splitext(filename or "")[1].lower(), "")
    kind = _media_type(declared, data, DOCUMENT_TYPES, "document()", "a document")
    body: dict[str, Any] = {"file_data": f"data:{kind};base64,{base64.b64encode(data).decode()}"}
    if filename:
        body["filename"] = filename
    return {"type": "file", "file": body}
