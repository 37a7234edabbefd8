"""An incremental Server-Sent Events parser (the WHATWG event-stream rules, data-only).

Why hand-written: the maintained SSE libraries are tied to another HTTP client (httpx-sse,
sseclient) or add a session layer of their own (aiohttp-sse-client); we need a parser that
takes raw byte chunks from *our* aiohttp response, so the first byte and the first token can
be stamped exactly when they arrive. It is small and tested against split reads, CRLF, CR,
comments, multi-line data, a missing final blank line and a UTF-8 character split in two.

Example:
    >>> p = SSEParser()
    >>> p.feed(b'data: {"a": 1}\\n\\nda')
    ['{"a": 1}']
    >>> p.feed(b'ta: [DONE]\\n\\n')
    ['[DONE]']
"""

from __future__ import annotations

import codecs
import re

# SSE lines end with CRLF, LF or CR, and nothing else (str.splitlines would also split on
# U+2028 and friends, which may appear inside JSON text).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SSEParser:
    """Turns byte chunks into the `data` payloads of complete events.

    Only the `data` field matters for OpenAI-compatible streams; `event`, `id` and `retry`
    fields and `:` comments are read and ignored. An event's data lines are joined with `\\n`.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data_lines: list[str] = []
        # A chunk may end between "\r" and "\n": remember it so "\n" is not read as a 2nd line.
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        """Parse the next bytes; return the data of every event they complete."""
        text = self._decoder.decode(chunk)
        if not text:  # e.g. only half of a multi-byte character arrived
            return []
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        events: list[str] = []
        if "\n" not in self._buffer and "\r" not in self._buffer:
            return events
        *lines, self._buffer = _LINE_BREAK.split(self._buffer)
        # A trailing "\r" may be the first half of "\r\n": the line is complete either way,
        # and _pending_cr drops the "\n" if it comes in the next chunk.
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[str]:
        """End of stream: return the last event if the server did not end it with a blank line."""
        events: list[str] = []
        rest = self._buffer + self._decoder.decode(b"", final=True)
        self._buffer = ""
        if rest:
            self._line(rest, events)
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:  # a blank line dispatches the event
            if self._data_lines:
                events.append("\n".join(self._data_lines))
                self._data_lines = []
            return
        if line.startswith(":"):  # comment / keep-alive ping
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_lines.append(value)
