from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_chaos_bug4_decoding_is_linear_in_line_length() -> None:
    """A 15 MiB line fed in 16 KiB reads decodes in well under a second (4a56482: 2.3 s for
    10 MiB, 11.6 s for 20 MiB, each feed re-splitting the whole buffer)."""
    import time

    decoder = SSEDecoder()
    piece = b"A" * 16384
    started = time.perf_counter()
    decoder.feed(b"data: ")
    for _ in range(15 * 64):
        assert [] == decoder.feed(piece)
    [event] = decoder.feed(b"\n\n")
    assert 15 * 2**20 == len(event.data)
    assert time.perf_counter() - started < 1.0


def test_chaos_bug4_a_line_past_the_bound_is_an_error() -> None:
    """A line (or an event of many lines) past MAX_LINE_BYTES raises SSEError, so a junk stream
    fails instead of growing without end."""
    from llmorch._sse import MAX_LINE_BYTES, SSEError

    decoder = SSEDecoder()
    piece = b"A" * (1 << 20)
    with pytest.raises(SSEError, match="longer than"):
        for _ in range(MAX_LINE_BYTES // len(piece) + 1):
            decoder.feed(piece)
    many = SSEDecoder()
    line = b"data: " + b"B" * (1 << 20) + b"\n"
    with pytest.raises(SSEError, match="larger than"):
        for _ in range(MAX_LINE_BYTES // (1 << 20) + 1):
            many.feed(line)


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_cr_at_the_end_of_a_chunk_is_one_line_end_with_a_following_lf(cut: int) -> None:
    """`\\r` then `\\n` in the next chunk is one line end; a lone `\\r` is one too."""
    data = b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"
    assert [e.data for e in decode(data)] == [e.data for e in decode(data[:cut], data[cut:])]
    assert ["a", "b", "c"] == [e.data for e in decode(data)]


def reference(text: str) -> list[ServerSentEvent]:
    """The SSE rules line by line (LF only), without any fast path: what the decoder must equal."""
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event: str | None = None
    last_id: str | None = None
    retry: int | None = None
    for line in text.split("\n")[:-1]:
        if not line:
            if data or event is not None:
                events.append(ServerSentEvent("\n".join(data), event, last_id, retry))
            data, event, retry = [], None, None
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        value = value[1:] if sep and value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    return events


SSE_LINES = st.sampled_from(
    ["", "", "data: x", "data: {\"a\": 1}", "data:y", "data", "data: ", "event: e", "event:f",
     "event: ", "id: 7", "id", "retry: 5", "retry: x", ": c", "other: z", "data: é✓"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(SSE_LINES, max_size=30), st.lists(st.integers(0, 600), max_size=4))
def test_whole_events_and_split_lines_decode_as_the_rules_say(
    lines: list[str], cuts: list[int]
) -> None:
    """Any mix of fields, blank-line runs and split points decodes exactly as line-by-line
    SSE (the whole-event fast paths change nothing)."""
    text = "".join(line + "\n" for line in lines)
    data = text.encode()
    parts = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(data)) + [len(data)]:
        parts.append(data[start:cut])
        start = cut
    expected = reference(text + "\n")
    assert expected == decode(*parts)
    assert expected == decode(data)


@pytest.mark.parametrize("head", [b"", b"event: e\n"])
def test_a_whole_event_past_the_bound_in_one_chunk_is_an_error(head: bytes) -> None:
    """An event that arrives whole in one read is bounded like one read line by line."""
    from llmorch._sse import MAX_LINE_BYTES, SSEError

    with pytest.raises(SSEError, match="larger than"):
        SSEDecoder().feed(head + b"data: " + b"B" * (MAX_LINE_BYTES + 1) + b"\n\n")
    [event] = SSEDecoder().feed(head + b"data: " + b"B" * MAX_LINE_BYTES + b"\n\n")
    assert MAX_LINE_BYTES == len(event.data)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
            max_leaves=8,
        ).map(json.dumps),
    ),
    st.sampled_from(["", " ", "\n", " x", "{}", "]"]),
    st.sampled_from(["", " ", "\t"]),
)
def test_event_json_is_json_loads(text: str, after: str, before: str) -> None:
    """event_json decodes exactly what json.loads decodes and refuses what it refuses."""
    from llmorch._sse import event_json

    data = before + text + after
    try:
        expected = json.loads(data)
    except ValueError:
        with pytest.raises(ValueError):
            event_json(data)
        return
    assert json.dumps(expected) == json.dumps(event_json(data))
