from __future__ import annotations

import pytest

from llmorch._sse import ServerSentEvent, SSEDecoder
from tests.conftest import fixture_bytes

SSE_FIXTURES = [
    "openai_chat_stream_with_usage.sse",
    "anthropic_messages_stream_basic.sse",
    "anthropic_stream_error_event.sse",
]


def decode(*parts: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for part in parts:
        events += decoder.feed(part)
    return events + decoder.flush()


@pytest.mark.parametrize("name", SSE_FIXTURES)
def test_fixture_resplit_at_every_offset_gives_the_same_events(name: str) -> None:
    """Splitting a recorded stream at any byte offset yields exactly the unsplit events."""
    data = fixture_bytes(name)
    expected = decode(data)
    assert expected
    for cut in range(len(data) + 1):
        assert expected == decode(data[:cut], data[cut:]), cut


def test_byte_at_a_time_decoding_matches() -> None:
    """Feeding one byte at a time gives the same events as one feed."""
    data = fixture_bytes("anthropic_messages_stream_basic.sse")
    assert decode(data) == decode(*(data[i : i + 1] for i in range(len(data))))


def test_anthropic_fixture_events_and_last_event_without_blank_line() -> None:
    """The recorded Anthropic stream decodes to its nine events, the last one flushed at EOF."""
    events = decode(fixture_bytes("anthropic_messages_stream_basic.sse"))
    assert [e.event for e in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[-1].data == '{"type":"message_stop"}'


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_is_accepted(eol: bytes) -> None:
    """LF, CRLF and CR all end lines, and a CRLF split across chunks is one line end."""
    data = eol.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    expected = [ServerSentEvent(data="1", event="a"), ServerSentEvent(data="2")]
    for cut in range(len(data) + 1):
        assert expected == decode(data[:cut], data[cut:])


def test_multiline_data_comments_id_and_retry() -> None:
    """Data lines join with newlines; comments are skipped; id persists; retry is read."""
    data = b": keepalive\nid: 7\nretry: 1500\ndata: a\ndata:b\n\ndata: c\n\n"
    first, second = decode(data)
    assert ServerSentEvent(data="a\nb", id="7", retry=1500) == first
    assert ServerSentEvent(data="c", id="7") == second


def test_multibyte_character_split_across_chunks_survives() -> None:
    """A UTF-8 character split between two chunks decodes intact."""
    data = "data: héllo ✓\n\n".encode()
    split = data.index("✓".encode()) + 1
    assert [ServerSentEvent(data="héllo ✓")] == decode(data[:split], data[split:])


def test_invalid_utf8_is_replaced_not_raised() -> None:
    """Bytes that are not UTF-8 become U+FFFD instead of raising."""
    assert [ServerSentEvent(data="a\ufffd")] == decode(b"data: a\xff\n\n")


def test_field_without_colon_and_unknown_fields_are_ignored() -> None:
    """A bare `data` adds an empty line; unknown fields, bad retry, NUL ids change nothing."""
    assert [ServerSentEvent(data="\nx")] == decode(
        b"data\nfoo: bar\nretry: x\nid: a\0b\ndata: x\n\n"
    )


def test_blank_lines_alone_dispatch_nothing() -> None:
    """Empty events (only blank lines or only retry) are not dispatched."""
    assert [] == decode(b"\n\n\nretry: 5\n\n")
