"""An incremental Server-Sent Events parser (the WHATWG event-stream rules, data-only).

Why hand-written: the maintained SSE libraries are tied to another HTTP client (httpx-sse,
sseclient) or add a session layer of their own (aiohttp-sse-client); we need a parser that
takes raw byte chunks from *our* aiohttp response, so the first byte and the first token can
be stamped exactly when they arrive, and that costs little per token: it runs for every token
of every client on the event loop they share. It works on bytes (line breaks are ASCII, so a
UTF-8 character split across reads is simply carried over) and hands the data on as bytes,
which JSON parsers read directly. It is tested against split reads, CRLF, CR, comments,
multi-line data, a missing final blank line and random input.

What it holds is bounded: with `max_event_bytes`, an event that grows beyond it (one endless
line, or data lines that never meet a blank line) raises `EventTooLarge` instead of being
buffered whole. The unfinished line is kept in a bytearray, so a line that trickles in many
small reads is appended to, not copied again for each read.

Example:
    >>> p = SSEParser()
    >>> p.feed(b'data: {"a": 1}\\n\\nda')
    [b'{"a": 1}']
    >>> p.feed(b'ta: [DONE]\\n\\n')
    [b'[DONE]']
    >>> SSEParser(max_event_bytes=8).feed(b"data: 0123456789")
    Traceback (most recent call last):
    ...
    llmeter_widget.endpoints.sse.EventTooLarge: an SSE event exceeded 8 bytes
"""

from __future__ import annotations


class EventTooLarge(ValueError):
    """An event grew beyond the parser's `max_event_bytes`.

    `events` holds the events the same chunk completed before it (in order), so a caller can
    still use what arrived before the oversize event.
    """

    def __init__(self, limit: int, events: list[bytes]) -> None:
        super().__init__(f"an SSE event exceeded {limit} bytes")
        self.limit = limit
        self.events = events


class SSEParser:
    """Turns byte chunks into the `data` payloads (bytes) of complete events.

    Only the `data` field matters for OpenAI-compatible streams; `event`, `id` and `retry`
    fields and `:` comments are read and ignored. An event's data lines are joined with `\\n`.

    Args:
        max_event_bytes: the most bytes the parser holds for one event: its `data` lines (as
            received, field name and line end included) plus the line still being read. Beyond it, `feed`
            raises EventTooLarge; `pending_bytes` never exceeds it. None: no limit.
    """

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()  # the unfinished last line
        self._data: bytes | bytearray | None = None  # the event's data so far (see _lines)
        self._data_bytes = 0  # the event's data lines as received, with their line ends
        # A read may end between "\r" and "\n": remember it so the "\n" is not a second line.
        self._pending_cr = False

    @property
    def pending_bytes(self) -> int:
        """Bytes held for the event being read: its data lines so far and the unfinished line."""
        return self._data_bytes + len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        """Parse the next bytes; return the data of every event they complete."""
        if not chunk:
            return []
        if self._pending_cr:
            self._pending_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:  # rare: normalise CRLF and CR line ends to LF
            self._pending_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        limit = self.max_event_bytes
        if b"\n" not in chunk:
            if limit is not None and self._data_bytes + len(self._buffer) + len(chunk) > limit:
                raise EventTooLarge(limit, [])
            self._buffer += chunk
            return []
        if self._buffer:
            chunk = bytes(self._buffer) + chunk
            self._buffer.clear()
        lines = chunk.split(b"\n")
        last = lines.pop()  # the unfinished last line, if any
        events = self._lines(lines)
        if last:
            if limit is not None and self._data_bytes + len(last) > limit:
                raise EventTooLarge(limit, events)
            self._buffer += last
        return events

    def close(self) -> list[bytes]:
        """End of stream: return the last event if the server did not end it with a blank line."""
        lines = [bytes(self._buffer), b""] if self._buffer else [b""]
        self._buffer.clear()
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[bytes]:
        events: list[bytes] = []
        # The event's data: None (no data line yet), the one line's bytes (the usual case, no
        # copy), or a bytearray the further lines are appended to (memory as counted).
        data = self._data
        size = self._data_bytes
        limit = self.max_event_bytes
        for line in lines:
            if not line:  # a blank line dispatches the event
                if data is not None:
                    events.append(data if type(data) is bytes else bytes(data))
                    data = None
                size = 0
            elif line.startswith(b"data:") or line == b"data":  # "data" alone: empty value
                size += len(line) + 1
                if limit is not None and size > limit:
                    raise EventTooLarge(limit, events)
                value = line[5:]
                if value[:1] == b" ":
                    value = value[1:]
                if data is None:
                    data = value
                else:
                    if type(data) is bytes:
                        data = bytearray(data)
                    data += b"\n"
                    data += value
            # other fields (event, id, retry) and ":" comments are ignored
        self._data = data
        self._data_bytes = size
        return events
