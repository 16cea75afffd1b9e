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

__all__ = ["SSEDecoder", "ServerSentEvent"]

_EOL = re.compile(rb"\r\n|\r|\n")
_BARE_LIMIT = 1 << 20  # a bare JSON value longer than this is dispatched as it is


@dataclass(frozen=True)
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


class SSEDecoder:
    """Incremental SSE parser: ``feed(bytes) -> events``, then ``flush()`` at end of stream.

    Args:
        bare_json: Also accept JSON values that arrive outside any field: a line starting with
            ``{`` or ``[`` opens one, and lines are collected until they parse as JSON. The
            value is dispatched as an event with ``event="bare-json"``.
    """

    __slots__ = ("_bare", "_bare_json", "_buffer", "_data", "_event", "_last_id", "_retry")

    def __init__(self, *, bare_json: bool = False) -> None:
        self._bare_json = bare_json
        self._bare: list[str] = []
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume bytes and return the events they complete.

        Args:
            chunk: The next bytes of the stream (any size, any split point).

        Returns:
            The events completed by this chunk, in order (often empty).
        """
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[ServerSentEvent] = []
        if b"\r" not in buffer:  # the common case: LF line ends only
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
            for raw in lines:
                event = self._line(raw)
                if event is not None:
                    events.append(event)
            return events
        start = 0
        for match in _EOL.finditer(buffer):
            if match.group() == b"\r" and match.end() == len(buffer):
                break  # may be the first half of "\r\n": wait for the next chunk
            event = self._line(buffer[start : match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: decode a last unterminated line and dispatch a pending event.

        Returns:
            The final event, if the stream ended without its blank line.
        """
        events: list[ServerSentEvent] = []
        if self._buffer:
            line = self._buffer.rstrip(b"\r")
            self._buffer = b""
            event = self._line(line)
            if event is not None:
                events.append(event)
        if self._bare:
            events.append(self._dispatch_bare())
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if self._bare_json and (self._bare or raw[:1] in (b"{", b"[")):
            return self._bare_line(raw)
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
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

    def _bare_line(self, raw: bytes) -> ServerSentEvent | None:
        self._bare.append(raw.decode("utf-8", errors="replace"))
        text = "\n".join(self._bare)
        if raw and len(text) < _BARE_LIMIT:
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
        self._event = None
        self._retry = None
        return event
