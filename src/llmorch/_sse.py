r"""A sans-I/O Server-Sent Events decoder, shared by every SSE provider.

Feed it bytes as they arrive; it returns whole events. Lines may end in ``\\n``, ``\\r\\n`` or
``\\r``, and a line (or a multi-byte UTF-8 character, or a ``\\r\\n`` pair) may be split across
chunks: nothing is decoded until a whole line is in.

Google's streams can also carry a bare JSON error object (often pretty-printed over several
lines) with no ``data:`` prefix; ``SSEDecoder(bare_json=True)`` collects such lines into an event
of their own, whose ``data`` is the JSON text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.scanner import make_scanner
from typing import Any, cast

__all__ = ["MAX_LINE_BYTES", "SSEDecoder", "SSEError", "ServerSentEvent", "event_json"]

_EOL = re.compile(rb"\r\n|\r|\n")
_scan = make_scanner(cast("Any", json.JSONDecoder()))  # what json.loads runs, minus its wrappers
_BARE_LIMIT = 1 << 20  # a bare JSON value longer than this is dispatched as it is
MAX_LINE_BYTES = 16 << 20
"""The longest line (and the largest event) a stream may carry; longer ones are an error."""
_MAX_DATA_LINE = MAX_LINE_BYTES + len("data: ")


class SSEError(ValueError):
    """The stream is not SSE a client can hold: a line or an event over :data:`MAX_LINE_BYTES`."""


@dataclass(slots=True)
class ServerSentEvent:
    r"""One dispatched event.

    Attributes:
        data: The ``data:`` lines joined with ``\\n``.
        event: The ``event:`` field, or ``None`` when the server sent none.
        id: The last ``id:`` seen on the stream, if any.
        retry: The ``retry:`` field in milliseconds, if the event carried one.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


def event_json(data: str) -> Any:
    """``json.loads(data)``, without its wrappers for the usual event data: one bare JSON value.

    Args:
        data: An event's ``data``.

    Returns:
        The decoded value.

    Raises:
        ValueError: ``data`` is not JSON (as :func:`json.loads` raises it).
    """
    try:
        value, end = _scan(data, 0)
    except StopIteration:  # no value at the start: leading whitespace, or not JSON
        return json.loads(data)
    if end != len(data):  # trailing whitespace, or more than one value
        return json.loads(data)
    return value


def _first_eol(chunk: bytes) -> int:
    lf, cr = chunk.find(b"\n"), chunk.find(b"\r")
    if lf < 0 or 0 <= cr < lf:
        return cr
    return lf


class SSEDecoder:
    """Incremental SSE parser: ``feed(bytes) -> events``, then ``flush()`` at end of stream.

    Linear in the bytes fed: a partial line is kept as a list of pieces and only new bytes are
    searched for line ends. A line or an event larger than :data:`MAX_LINE_BYTES` raises
    :class:`SSEError` (a pathological stream fails instead of eating memory and CPU).

    Args:
        bare_json: Also accept JSON values that arrive outside any field: a line starting with
            ``{`` or ``[`` opens one, and lines are collected until they parse as JSON. The
            value is dispatched as an event with ``event="bare-json"``.
    """

    __slots__ = (
        "_bare",
        "_bare_json",
        "_data",
        "_data_size",
        "_event",
        "_last_id",
        "_pending",
        "_pending_size",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, *, bare_json: bool = False) -> None:
        self._bare_json = bare_json
        self._bare: list[str] = []
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._skip_lf = False
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume bytes and return the events they complete.

        Args:
            chunk: The next bytes of the stream (any size, any split point).

        Returns:
            The events completed by this chunk, in order (often empty).

        Raises:
            SSEError: A line or an event grew past :data:`MAX_LINE_BYTES`.
        """
        events: list[ServerSentEvent] = []
        if self._skip_lf:  # the last chunk ended in "\r": a "\n" here belongs to it
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if self._pending:
            cut = _first_eol(chunk)
            if cut < 0:
                self._keep(chunk)
                return events
            self._pending.append(chunk[:cut])
            joined = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._emit(joined, events)
            if chunk[cut] == 13:  # "\r", maybe the first half of "\r\n"
                if cut + 1 == len(chunk):
                    self._skip_lf = True
                elif chunk[cut + 1] == 10:
                    cut += 1
            chunk = chunk[cut + 1 :]
        if b"\r" not in chunk:  # the common case: LF line ends only
            cut = chunk.rfind(b"\n") + 1
            if cut:  # decoded once: a whole line never ends inside a UTF-8 character
                self._lines(chunk[:cut].decode("utf-8", errors="replace"), events)
            tail = chunk[cut:]
        else:
            start = 0
            for match in _EOL.finditer(chunk):
                self._emit(chunk[start : match.start()], events)
                start = match.end()
            tail = chunk[start:]
            self._skip_lf = start == len(chunk) and chunk.endswith(b"\r")
        if tail:
            self._keep(tail)
        return events

    def _lines(self, text: str, events: list[ServerSentEvent]) -> None:
        """Decode whole lines (``text`` ends with a line end), a blank-line-ended block at a time.

        The common blocks (one ``data:`` line, or an ``event:`` line and a ``data:`` line,
        arriving while no event is half-read) become events with no per-line work.
        """
        if self._bare_json:
            self._each(text[:-1].split("\n"), events)
            return
        blocks = text.split("\n\n")  # each but the last ends with a blank line
        rest = blocks.pop()
        clean = not self._data and self._event is None and self._retry is None
        for block in blocks:
            if clean:
                if block.startswith("data: ") and "\n" not in block:
                    if len(block) > _MAX_DATA_LINE:
                        raise SSEError(f"an SSE event is larger than {MAX_LINE_BYTES} bytes")
                    events.append(ServerSentEvent(block[6:], None, self._last_id, None))
                    continue
                eol = block.find("\n")
                if (
                    block.startswith("event: ")
                    and block.startswith("data: ", eol + 1)
                    and block.find("\n", eol + 1) < 0
                    and len(block) - eol - 1 <= _MAX_DATA_LINE
                ):
                    data = block[eol + 7 :]
                    events.append(ServerSentEvent(data, block[7:eol], self._last_id, None))
                    continue
            self._each(block.split("\n"), events)
            event = self._dispatch()  # every dispatch leaves the state clean
            if event is not None:
                events.append(event)
            clean = True
        if rest:
            self._each(rest[:-1].split("\n"), events)

    def _each(self, lines: list[str], events: list[ServerSentEvent]) -> None:
        line = self._line
        for each in lines:
            event = line(each)
            if event is not None:
                events.append(event)

    def _keep(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_size += len(piece)
        if self._pending_size > MAX_LINE_BYTES:
            raise SSEError(f"an SSE line is longer than {MAX_LINE_BYTES} bytes")

    def _emit(self, raw: bytes, events: list[ServerSentEvent]) -> None:
        event = self._line(raw.decode("utf-8", errors="replace"))
        if event is not None:
            events.append(event)

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: decode a last unterminated line and dispatch a pending event.

        Returns:
            The final event, if the stream ended without its blank line.
        """
        events: list[ServerSentEvent] = []
        if self._pending:
            line = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._emit(line, events)
        if self._bare:
            events.append(self._dispatch_bare())
        self._emit(b"", events)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if self._bare_json and (self._bare or line[:1] in ("{", "[")):
            return self._bare_line(line)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_size += len(value)
            if self._data_size > MAX_LINE_BYTES:
                raise SSEError(f"an SSE event is larger than {MAX_LINE_BYTES} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        return None

    def _bare_line(self, line: str) -> ServerSentEvent | None:
        self._bare.append(line)
        text = "\n".join(self._bare)
        if line and len(text) < _BARE_LIMIT:
            try:
                json.loads(text)
            except ValueError:
                return None
        return self._dispatch_bare()

    def _dispatch_bare(self) -> ServerSentEvent:
        text = "\n".join(self._bare).strip()
        self._bare = []
        return ServerSentEvent(data=text, event="bare-json", id=self._last_id)

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and self._event is None:
            self._retry = None
            return None
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = ServerSentEvent(data, self._event, self._last_id, self._retry)
        self._data = []
        self._data_size = 0
        self._event = None
        self._retry = None
        return event
