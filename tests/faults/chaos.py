"""The chaos matrix: faults that are not well-formed HTTP, and what llmorch must do with each.

Each `Chaos` turns the emulator's real answer (a `Message` read whole by the proxy) into the bytes
the client gets. Faults hit the first chat request of a call only, so a documented retry is
visible as a second upstream request. The findings are `chaos.md`'s BUG-1..BUG-5; ``guard`` marks
faults that already end well (kept as regression guards).

Outcomes (`Chaos.request` / `Chaos.stream`):

- ``ok``: the first model answers on the first request;
- ``answer``: the first model answers, on the first request or after one retry;
- ``retry``: the first request fails, the retry on the same model answers;
- ``recover``: answered by the first model after a retry, or by the next model (a fault that
  leaves stray bytes on a kept connection may cost the retry too);
- ``interrupted``: `StreamInterruptedError` after the first chunk, with one of `causes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.proxy import TERMINATOR, Message, Plan, chunk, events, has_text, head

__all__ = ["CHAOS", "DIALECTS", "TRANSPORTS", "Chaos", "cells"]

DIALECTS = ("openai", "anthropic", "gemini", "vertex", "bedrock")
TRANSPORTS = ("httpx", "aiohttp")
PAUSE = 0.2  # seconds between the first write and the late one (BUG-1)
JUNK_BYTES = 16 * 1024 * 1024  # a stream: linear decoding reads it in ~0.1 s, quadratic in 2-4 s
JUNK_JSON_BYTES = 4 * 1024 * 1024  # a plain request parses its body whole: no need for more
JUNK_PIECE = 64 * 1024
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
BUSY = b'{"error": {"message": "busy", "type": "server_error", "code": 503}}'
BAD_SIZES = {"zz": b"zz", "neg": b"-5", "huge": b"ffffffffffffffffff"}


@dataclass(frozen=True)
class Chaos:
    """One fault kind.

    Attributes:
        name: Short id (used in test ids).
        finding: ``bug1`` … ``bug5`` (chaos.md) or ``guard``.
        what: What the fault does, in words.
        plan: The emulator's answer → what the client receives.
        request: Outcome of a plain request, or ``None`` when the fault has no request form
            (the table says why).
        stream: Outcome of a stream, or ``None``. Every fault exists for every provider:
            Bedrock's binary event stream takes the same HTTP-level damage, its "HTML page
            labelled as the stream" is labelled ``application/vnd.amazon.eventstream``.
        causes: Accepted ``__cause__`` classes of an ``interrupted`` stream.
    """

    name: str
    finding: str
    what: str
    plan: Callable[[Message], Plan]
    request: str | None
    stream: str | None
    causes: tuple[str, ...] = ("ProviderConnectionError",)


def _head(m: Message) -> bytes:
    return m.raw[: m.raw.index(b"\r\n\r\n") + 4]


def _after_text(m: Message) -> int:
    """How many events to send so that the caller has received text: through the second one."""
    return [i for i, e in enumerate(events(m)) if has_text(e)][1] + 1


def _before_text(m: Message) -> int:
    return next(i for i, e in enumerate(events(m)) if has_text(e))


def _chunks(pieces: list[bytes]) -> bytes:
    return b"".join(chunk(p) for p in pieces)


def _broken_chunk(piece: bytes, mode: str) -> bytes:
    if mode in BAD_SIZES:
        return chunk(piece, BAD_SIZES[mode])
    if mode == "small":  # five bytes too small: the rest of the data is read as a size line
        return chunk(piece, b"%x" % (len(piece) - 5))
    if mode == "nocrlf":  # data not followed by CRLF
        return b"%x\r\n" % len(piece) + piece
    mid = len(piece) // 2  # "dup": 16 data bytes sent twice
    return b"%x\r\n" % len(piece) + piece[:mid] + piece[mid - 16 : mid] + piece[mid:] + b"\r\n"


def _framing(mode: str, *, late: bool) -> Callable[[Message], Plan]:
    """A broken chunk holding half an event (or half the JSON), so no text comes with it.

    In one burst it comes before any text; ``late``, ``PAUSE`` s after the headers (and, in a
    stream, after two text events). A parser that accepts the huge size reads everything after it
    as data, so after that one nothing more is sent: the peer then stalls.
    """

    def plan(m: Message) -> Plan:
        if m.streamed:
            pieces = events(m)
            k = _after_text(m) if late else _before_text(m)
        else:
            pieces, k = [m.body], 0
        half = len(pieces[k]) // 2
        before = head(m) + _chunks(pieces[:k])
        after = _broken_chunk(pieces[k][:half], mode)
        if mode != "huge":
            after += _chunks([pieces[k][half:], *pieces[k + 1 :]]) + TERMINATOR
        return Plan([before, PAUSE, after] if late else [before + after])

    return plan


def _prefixed(garbage: bytes) -> Callable[[Message], Plan]:
    return lambda m: Plan([garbage + m.raw])


def _status(line: bytes) -> Callable[[Message], Plan]:
    return lambda m: Plan([line + m.raw[m.raw.index(b"\r\n") :]])


def _latin1_503(m: Message) -> Plan:
    return Plan(
        [
            b"HTTP/1.1 503 Dienst nicht verf\xfcgbar\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(BUSY) + BUSY
        ]
    )


def _header_damage(m: Message) -> Plan:
    end = m.raw.index(b"\r\n") + 2
    return Plan([m.raw[:end] + b"this line is no header\r\n" + m.raw[end:]])


def _dup16(m: Message) -> Plan:
    if m.streamed:
        return _framing("dup", late=False)(m)
    mid = len(m.body) // 2
    return Plan([_head(m) + m.body[:mid] + m.body[mid - 16 : mid] + m.body[mid:]])


def _cl_short(m: Message) -> Plan:
    return Plan([head(m, framing=f"length:{len(m.body) - 10}") + m.body])


def _close_full(m: Message) -> Plan:
    return Plan([head(m, framing="close") + m.body], end="fin")


def _close_cut(m: Message) -> Plan:
    if m.streamed:
        return Plan([head(m, framing="close") + b"".join(events(m)[: _after_text(m)])], end="fin")
    return Plan([head(m, framing="close") + m.body[: len(m.body) // 2]], end="fin")


def _close_cut_pre(m: Message) -> Plan:
    return Plan([head(m, framing="close") + b"".join(events(m)[: _before_text(m)])], end="fin")


def _html(m: Message) -> Plan:
    page = Message(m.start, m.headers, HTML, b"")
    return Plan([head(page, framing=f"length:{len(HTML)}") + HTML])


def _junk(m: Message) -> Plan:
    if not m.streamed:
        return Plan([head(m, framing=f"length:{JUNK_JSON_BYTES}") + b"A" * JUNK_JSON_BYTES])
    piece = chunk(b"A" * JUNK_PIECE)
    return Plan([head(m), *[piece] * (JUNK_BYTES // JUNK_PIECE), TERMINATOR])


def _drip(m: Message) -> Plan:
    if not m.streamed:
        return Plan([_head(m)], drip=m.body)
    pieces, k = events(m), _after_text(m)
    return Plan([head(m) + _chunks(pieces[:k])], drip=_chunks(pieces[k:]) + TERMINATOR)


def _cut(end: str, where: str) -> Callable[[Message], Plan]:
    def plan(m: Message) -> Plan:
        if where == "head":
            return Plan([m.raw[: m.raw.index(b"\r\n") + 12]], end=end)
        if not m.streamed:
            return Plan([_head(m) + m.body[: len(m.body) // 2]], end=end)
        k = _after_text(m) if where == "body" else _before_text(m)
        return Plan([head(m) + _chunks(events(m)[:k])], end=end)

    return plan


CHAOS: list[Chaos] = [
    Chaos("garbage_text", "bug2", "text garbage before the status line",
          _prefixed(b"GARBAGE 1234\r\n"), "retry", "retry"),
    Chaos("garbage_bin", "bug2", "binary garbage before the status line",
          _prefixed(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\xff\xfe\r\n"), "retry", "retry"),
    Chaos("status_letter", "bug2", "a status digit flipped to a letter (2O0)",
          _status(b"HTTP/1.1 2O0 OK"), "retry", "retry"),
    Chaos("latin1_503", "bug2", "503 whose reason phrase is Latin-1 (obs-text)",
          _latin1_503, "retry", "retry"),
    # A Latin-1 reason is legal: answered at once, or (a transport that rejects it) retried.
    Chaos("latin1_200", "bug2", "200 whose reason phrase is Latin-1 (`Ärger`)",
          _status(b"HTTP/1.1 200 \xc4rger"), "answer", "answer"),
    Chaos("header_damage", "bug2", "a header line without a colon",
          _header_damage, "retry", "retry"),
    *[Chaos(f"chunk_{mode}", "bug2", f"broken chunk ({mode}) before any text",
            _framing(mode, late=False), "retry", "retry")
      for mode in ("zz", "neg", "huge", "small", "nocrlf")],
    Chaos("dup16", "bug2", "16 body bytes sent twice, connection kept",
          _dup16, "recover", "retry"),
    # Streams are chunked: a stream whose length lies is close_cut below.
    Chaos("cl_short", "bug2", "Content-Length 10 bytes short, connection kept",
          _cl_short, "recover", None),
    *[Chaos(f"late_chunk_{mode}", "bug1",
            f"broken chunk ({mode}) {PAUSE} s after the headers (in a stream: after text)",
            _framing(mode, late=True), "retry", "interrupted",
            causes=("ProviderConnectionError", "ProviderTimeoutError", "ProviderUnavailableError"))
      for mode in ("zz", "neg", "huge", "small", "nocrlf", "dup")],
    Chaos("close_cut", "bug3", "close-delimited body, FIN after text (request: mid-body)",
          _close_cut, "retry", "interrupted",
          causes=("ProviderConnectionError", "ProviderUnavailableError")),
    # A plain request has no events to come before: its cut is close_cut's request form.
    Chaos("close_cut_pre", "bug3", "close-delimited stream, FIN at an event boundary before text",
          _close_cut_pre, None, "retry"),
    Chaos("html_mislabelled", "bug3",
          "200 HTML page labelled as the answer's type (JSON, text/event-stream, eventstream)",
          _html, "retry", "retry"),
    Chaos("junk", "bug4", "MiBs of 'A' without a newline, normal type (stream: 16, request: 4)",
          _junk, "retry", "retry"),
    Chaos("drip", "bug5", "1 byte / 50 ms (request: whole body; stream: after text)",
          _drip, "retry", "interrupted", causes=("ProviderTimeoutError",)),
    Chaos("close_full", "guard", "close-delimited body, whole",
          _close_full, "ok", "ok"),
    Chaos("rst_head", "guard", "RST inside the headers", _cut("rst", "head"), "retry", "retry"),
    Chaos("fin_head", "guard", "FIN inside the headers", _cut("fin", "head"), "retry", "retry"),
    Chaos("rst_body", "guard", "RST mid-body / between events after text",
          _cut("rst", "body"), "retry", "interrupted"),
    Chaos("fin_body", "guard", "FIN mid-body / between events after text",
          _cut("fin", "body"), "retry", "interrupted"),
    # A plain request has no events: its mid-body RST is rst_body's request form.
    Chaos("rst_pre", "guard", "RST between events before text",
          _cut("rst", "pre"), None, "retry"),
]  # fmt: skip


def cells(finding: str) -> list[tuple[Chaos, str, str, str]]:
    """Every (fault, mode, dialect, transport) cell of one finding."""
    return [
        (case, mode, dialect, transport)
        for case in CHAOS
        if case.finding == finding
        for mode in ("request", "stream")
        if getattr(case, mode) is not None
        for dialect in DIALECTS
        for transport in TRANSPORTS
    ]


_OUTCOMES = {
    "ok": "answered",
    "answer": "answered (at once or after one retry)",
    "retry": "retried, then answered",
    "recover": "retried or next model, then answered",
    "interrupted": "StreamInterruptedError",
}


def render() -> str:
    """The chaos matrix as a Markdown table (fault → outcome per mode), with the cell count."""
    lines = [
        "| fault | finding | plain request | stream |",
        "|---|---|---|---|",
    ]
    for case in CHAOS:
        request = _OUTCOMES[case.request] if case.request else "—"
        stream = _OUTCOMES[case.stream] if case.stream else "—"
        lines.append(f"| {case.what} | {case.finding} | {request} | {stream} |")
    count = sum(len(cells(f)) for f in sorted({c.finding for c in CHAOS}))
    lines.append("")
    lines.append(
        f"{len(CHAOS)} faults × {len(DIALECTS)} providers × {len(TRANSPORTS)} transports "
        f"(`httpx`, `aiohttp`): {count} cells tested."
    )
    return "\n".join(lines)
