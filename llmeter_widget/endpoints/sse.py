"""An incremental Server-Sent Events parser (the WHATWG event-stream rules, data-only).

Why hand-written: the maintained SSE libraries are tied to another HTTP client (httpx-sse,
sseclient) or add a session layer of their own (aiohttp-sse-client); we need a parser that
takes raw byte chunks from *our* aiohttp response, so the first byte and the first token can
be stamped exactly when they arrive, and that costs little per token: it runs for every token
of every client on the event loop they share. It works on bytes (line breaks are ASCII, so a
UTF-8 character split across reads is simply carried over) and hands the data on as bytes,
which JSON parsers read directly. It is tested against split reads, CRLF, CR, comments,
multi-line data, a missing final blank line and random input.

Example:
    >>> p = SSEParser()
    >>> p.feed(b'data: {"a": 1}\\n\\nda')
    [b'{"a": 1}']
    >>> p.feed(b'ta: [DONE]\\n\\n')
    [b'[DONE]']
"""

from __future__ import annotations


class SSEParser:
    """Turns byte chunks into the `data` payloads (bytes) of complete events.

    Only the `data` field matters for OpenAI-compatible streams; `event`, `id` and `retry`
    fields and `:` comments are read and ignored. An event's data lines are joined with `\\n`.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        # A read may end between "\r" and "\n": remember it so the "\n" is not a second line.
        self._pending_cr = False

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
        if b"\n" not in chunk:
            self._buffer += chunk
            return []
        lines = (self._buffer + chunk).split(b"\n")
        self._buffer = lines.pop()  # the unfinished last line, if any
        return self._lines(lines)

    def close(self) -> list[bytes]:
        """End of stream: return the last event if the server did not end it with a blank line."""
        lines = [self._buffer, b""] if self._buffer else [b""]
        self._buffer = b""
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[bytes]:
        events: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:  # a blank line dispatches the event
                if data:
                    events.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value[:1] == b" " else value)
            elif line == b"data":  # a field name alone: empty value
                data.append(b"")
            # other fields (event, id, retry) and ":" comments are ignored
        return events
