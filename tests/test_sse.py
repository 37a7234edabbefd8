"""The SSE parser against the event-stream rules, fed in every possible split."""

from hypothesis import given
from hypothesis import strategies as st

from llmeter_widget.endpoints.sse import SSEParser

STREAM = (
    b": keep-alive comment\r\n"
    b"data: {\"a\": 1}\r\n\r\n"
    b"event: message\nid: 7\ndata: first line\ndata: second line\n\n"
    b"data:no-space\r\r"
    b"data: caf\xc3\xa9 \xe2\x80\xa8 inside\n\n"
    b"retry: 100\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [b'{"a": 1}', b"first line\nsecond line", b"no-space",
            "café \u2028 inside".encode(), b"[DONE]"]


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    parser = SSEParser()
    events: list[bytes] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events + parser.close()


def test_whole_stream_in_one_read():
    assert parse_in_pieces(STREAM, []) == EXPECTED


def test_every_single_split_point():
    # Splits between \r and \n, inside "data:", inside a UTF-8 character: all must parse alike.
    for cut in range(1, len(STREAM)):
        assert parse_in_pieces(STREAM, [cut]) == EXPECTED, f"split at byte {cut}"


def test_byte_by_byte():
    assert parse_in_pieces(STREAM, list(range(1, len(STREAM)))) == EXPECTED


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM) - 1), max_size=12))
def test_random_splits(cuts):
    assert parse_in_pieces(STREAM, cuts) == EXPECTED


def test_last_event_without_blank_line_is_delivered_on_close():
    parser = SSEParser()
    assert parser.feed(b"data: x\n\ndata: tail") == [b"x"]
    assert parser.close() == [b"tail"]


def test_crlf_split_does_not_make_an_empty_event_line():
    parser = SSEParser()
    # "\r" ends a line; the "\n" that follows in the next read belongs to it, so the event
    # must not be dispatched until a real blank line comes.
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\r\n") == []
    assert parser.feed(b"\r\n") == [b"a\nb"]


def test_comments_and_unknown_fields_are_ignored():
    parser = SSEParser()
    assert parser.feed(b":ping\n\nfoo: bar\n\n") == []


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data):
    parser = SSEParser()
    out = parser.feed(data) + parser.close()
    assert all(isinstance(e, bytes) for e in out)


def test_field_name_alone_is_an_empty_data_line():
    parser = SSEParser()
    assert parser.feed(b"data\ndata: x\n\n") == [b"\nx"]


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                               blacklist_categories=("Cs",)), max_size=20),
                min_size=1, max_size=5),
       st.sampled_from([b"\n", b"\r\n", b"\r"]),
       st.lists(st.integers(min_value=1, max_value=200), max_size=8))
def test_any_event_round_trips_with_any_line_ending_and_split(lines, eol, cuts):
    wire = b"".join(b"data: " + line.encode() + eol for line in lines) + eol
    cuts = [c for c in cuts if c < len(wire)]
    assert parse_in_pieces(wire, cuts) == ["\n".join(lines).encode()]
