"""OpenAI-compatible chat and completions endpoints over aiohttp, streaming by default.

Timestamps are taken when bytes arrive, before any JSON parsing:
- first byte: the response headers are in;
- first token: the first SSE event whose choice carries content or reasoning text (not the
  role-only chunk, whose content is "" or null, and not the first byte); the first event of
  each kind is stamped too (first reasoning token, first content token), and the second one;
- last token: the last event that carried text;
- every gap between two consecutive text events (`inter_token_latencies`): the previous stamp
  is at hand (`t_last_token`), so a gap costs a subtraction and a list append per token.
Stamps are per network read: events that arrived in the same read share one, and the gap
between them is a real 0 (the client saw them at the same moment).
Usage comes from the server when it sends it (on the finish chunk, or a final chunk with empty
`choices`); otherwise output tokens are counted as content-carrying chunks and marked "counted".

A hostile or broken server must not hold a client (or the kernel's memory) forever, and bytes
arriving are not progress: `read_timeout` never fires while a server sends `: keep-alive`
comments, and an endless line would be buffered whole. So a stream is bounded twice:
`max_event_bytes` caps what the SSE parser holds for one event (a `protocol` error), and
`token_timeout` caps the wait for the next content token (a `timeout` error). The token timer
costs nothing per token (a few microseconds per request): one timer per `token_timeout` period
reads the last token's stamp, which the reader takes anyway, and re-arms itself; only when it
finds no token within the period does it end the read, through `asyncio.timeout` (which tells
its own cancellation from any other, and from aiohttp's timeouts).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import aiohttp
import orjson

from .base import InvocationResponse, utc_now
from .http import resend_session, reused_connection
from .sse import EventTooLarge, SSEParser

_ERROR_BODY_LIMIT = 64 * 1024  # read at most this much of an error body
_MESSAGE_LIMIT = 300  # keep saved error messages short
# After [DONE], how long and how much we read to reach the end of the body. aiohttp returns a
# connection to the pool only when its body was read to the end; a server writes its last
# chunk (the chunked-encoding terminator) just after [DONE], so this is normally microseconds.
_TAIL_SECONDS = 0.25
_TAIL_BYTES = 64 * 1024
DEFAULT_MAX_EVENT_BYTES = 1_000_000


class RequestCancelled(asyncio.CancelledError):
    """A request was cancelled in flight; carries what was measured up to then.

    It is a CancelledError, so cancellation still propagates; the runner catches it to record
    the partial response before re-raising.
    """

    def __init__(self, response: InvocationResponse) -> None:
        super().__init__("request cancelled")
        self.response = response


class _RequestFailed(Exception):
    """Internal: ends a request with an error class and message."""

    def __init__(self, error_type: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retry_after = retry_after  # seconds the server asked us to wait (HTTP 429)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _validate_base_url(base_url: str) -> str:
    parts = urlsplit(base_url or "")
    example = "e.g. 'http://127.0.0.1:8000/v1' or 'https://api.openai.com/v1'."
    if parts.scheme and parts.scheme not in ("http", "https") and parts.netloc:
        raise ValueError(f"base_url {base_url!r} uses {parts.scheme}://: the API is served over "
                         f"http:// or https://, {example}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url {base_url!r} needs http:// or https:// and a host, {example}")
    return base_url.rstrip("/")


async def _read_tail(http: aiohttp.ClientResponse) -> None:
    """Read what follows [DONE] to the end of the body, so the connection can be reused.

    Stopping at [DONE] left the chunked terminator unread whenever it arrived a moment later,
    and aiohttp then closes the connection instead of pooling it: the client's next request paid
    a new TCP handshake inside its TTFT. Bounded (_TAIL_SECONDS, _TAIL_BYTES): a server that keeps
    the stream open after [DONE] costs its connection, never the client's time.
    """
    read = 0
    try:
        async with asyncio.timeout(_TAIL_SECONDS):
            while not http.content.at_eof() and read <= _TAIL_BYTES:
                read += len(await http.content.readany())
    except (TimeoutError, aiohttp.ClientError):
        pass  # the connection is closed on release instead of pooled; the response is complete


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _http_error_type(status: int) -> str:
    if status == 429:
        return "rate_limited"
    return "http_5xx" if status >= 500 else "http_4xx"


def _error_message(status: int, reason: str | None, body: bytes) -> str:
    """'HTTP 404 Not Found: <the server's own message>' from an OpenAI-style error body."""
    detail = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(detail)
        err = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
        if isinstance(err, dict):
            detail = str(err.get("message") or err)
        elif isinstance(err, str):
            detail = err
    except ValueError:
        pass
    head = f"HTTP {status} {reason or ''}".strip()
    return _short(f"{head}: {detail}") if detail.strip() else head


class _OpenAIEndpoint:
    """Shared request/measure logic; subclasses say which API path and where the text lives."""

    api_path = ""
    provider = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        api_key_env: str | None = None,
        stream: bool = True,
        include_usage: bool = True,
        timeout: float | None = 600.0,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 120.0,
        token_timeout: float | None = 120.0,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        retry_rate_limited: int = 0,
        max_retry_wait: float = 60.0,
        headers: dict[str, str] | None = None,
        endpoint_name: str | None = None,
    ) -> None:
        self.base_url = _validate_base_url(base_url)
        if not model:
            raise ValueError("model is empty: pass the model name the server serves, e.g. model='sim'.")
        self.model_id = model
        self.endpoint_name = endpoint_name or urlsplit(self.base_url).netloc
        self.stream = stream
        self.include_usage = include_usage
        for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout),
                            ("read_timeout", read_timeout), ("token_timeout", token_timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not value > 0):
                raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}.")
        # Seconds: the whole request; connecting; the longest silence between bytes.
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # Seconds (streaming only): the longest wait for the next content token, from the
        # response headers to the first token and between tokens (and from the last one to the
        # end of the stream). SSE comments, role-only and empty chunks do not count: a server
        # sending only `: keep-alive` fails as `timeout` after this long. None: no limit.
        self.token_timeout = token_timeout
        if isinstance(max_event_bytes, bool) or not isinstance(max_event_bytes, int) \
                or max_event_bytes < 1:
            raise ValueError(
                f"max_event_bytes must be a whole number of bytes >= 1, got {max_event_bytes!r} "
                f"(default {DEFAULT_MAX_EVENT_BYTES:_}, far above any real token event)."
            )
        # Bytes (streaming only): the most one SSE event (its data lines and the line being
        # read) may hold; beyond it (an endless line, an event never ended) the request fails as
        # `protocol` and memory stays bounded.
        self.max_event_bytes = max_event_bytes
        if isinstance(retry_rate_limited, bool) or not isinstance(retry_rate_limited, int) \
                or retry_rate_limited < 0:
            raise ValueError(
                f"retry_rate_limited must be a whole number of retries >= 0, got {retry_rate_limited!r}."
            )
        # Off by default: a load test must not hide a server's rate limiting.
        self.retry_rate_limited = retry_rate_limited
        self.max_retry_wait = max_retry_wait
        self.api_key_env = api_key_env
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
            if api_key is None:
                raise ValueError(
                    f"Environment variable {api_key_env!r} is not set: export it, or pass api_key=."
                )
        # The key lives only here, never in config, repr or traits.
        self._api_key = api_key
        self._extra_headers = dict(headers or {})
        self.url = self.base_url + self.api_path
        # Built once: every request of every client uses them.
        self._request_headers = self._headers()
        self._request_timeout = aiohttp.ClientTimeout(
            total=timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model_id!r})"

    # -- what subclasses define ----------------------------------------------------------------
    @staticmethod
    def _prompt_of(payload: dict) -> str | None:
        raise NotImplementedError

    @staticmethod
    def _choice_text(choice: dict) -> tuple[str | None, bool]:
        """(the output text of a streamed choice, True if that text is reasoning)."""
        raise NotImplementedError

    @staticmethod
    def _message_text(choice: dict) -> tuple[str | None, str | None]:
        """(content, reasoning) of a non-streamed choice."""
        raise NotImplementedError

    # -- config ----------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """What run_config.json records of this endpoint; the API key and headers are left out."""
        return {
            "endpoint_type": type(self).__name__,
            "endpoint_name": self.endpoint_name,
            "model_id": self.model_id,
            "provider": self.provider,
            "base_url": self.base_url,
            "stream": self.stream,
            "include_usage": self.include_usage,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "token_timeout": self.token_timeout,
            "max_event_bytes": self.max_event_bytes,
            "retry_rate_limited": self.retry_rate_limited,
            "max_retry_wait": self.max_retry_wait,
            "api_key_env": self.api_key_env,
            "header_names": sorted(self._extra_headers),  # names only: values may be secret
        }

    def _redact(self, text: str) -> str:
        """Hide the API key and header values if a server echoes them in an error message."""
        for secret in (self._api_key, *self._extra_headers.values()):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._extra_headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if self.stream:
            headers["Accept"] = "text/event-stream"
        return headers

    def _body(self, payload: dict) -> dict:
        body = dict(payload)
        body.setdefault("model", self.model_id)
        body["stream"] = self.stream
        if self.stream and self.include_usage:
            body.setdefault("stream_options", {"include_usage": True})
        return body

    # -- before a run ------------------------------------------------------------------------------
    async def warm_up(self, session: aiohttp.ClientSession, connections: int) -> int:
        """Open `connections` connections to the server before a run's clock starts, so that
        the first wave of requests does not pay for TCP (and TLS) setup all at once.

        Each is a `GET {base_url}/models`, all at once; an answer of any status leaves its
        connection in `session`'s pool for a client to reuse. A server that closes every
        connection after a response (llama.cpp's) keeps none: warming it is useless.

        Returns how many got an answer (the others could not connect: the run will say why).
        """
        timeout = aiohttp.ClientTimeout(total=self.connect_timeout or 10.0)

        async def one() -> bool:
            try:
                async with session.get(self.base_url + "/models", headers=self._request_headers,
                                       timeout=timeout) as answer:
                    await answer.read()
                return True
            except (aiohttp.ClientError, asyncio.TimeoutError):
                return False

        return sum(await asyncio.gather(*(one() for _ in range(connections))))

    # -- one request -----------------------------------------------------------------------------
    async def invoke(self, session: aiohttp.ClientSession, payload: dict) -> InvocationResponse:
        """Send one request and measure it. Never raises for a failed request.

        Raises RequestCancelled (a CancelledError) if cancelled in flight. With
        `retry_rate_limited=N`, an HTTP 429 is retried up to N times after the wait its
        Retry-After asks for (capped at `max_retry_wait`); `retries` counts them, and the
        timings still run from the first send: that is how long the caller waited.
        """
        response = InvocationResponse(
            id=uuid4().hex, input_payload=payload, input_prompt=self._prompt_of(payload)
        )
        body = self._body(payload)
        response.request_time = utc_now()
        response.t_send = time.perf_counter()
        try:
            while True:
                try:
                    await self._send_once(session, body, response)
                    break
                except _RequestFailed as failure:
                    retries = response.retries or 0
                    if failure.error_type != "rate_limited" or retries >= self.retry_rate_limited:
                        raise
                    wait = failure.retry_after if failure.retry_after is not None else 2.0**retries
                    await asyncio.sleep(min(wait, self.max_retry_wait))
                    response.retries = retries + 1
                    response.http_status = None
        except _RequestFailed as failure:
            response.error_type = failure.error_type
            response.error = self._redact(str(failure))
        except asyncio.CancelledError:
            response.error_type = "cancelled"
            response.error = "cancelled while in flight"
            response.t_end = time.perf_counter()
            raise RequestCancelled(response.finalize()) from None
        response.t_end = time.perf_counter()
        return response.finalize()

    async def _send_once(
        self, session: aiohttp.ClientSession, body: dict, response: InvocationResponse
    ) -> None:
        try:
            await self._attempt(session, body, response)
        except _StaleConnection:
            # The pooled connection was dead before the server saw us: resend once, on a new
            # connection (another pooled one may be just as dead: see http.py).
            response.annotations["reconnected"] = True
            await self._attempt(resend_session(session), body, response, allow_stale_retry=False)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        body: dict,
        response: InvocationResponse,
        allow_stale_retry: bool = True,
    ) -> None:
        reused_connection.set(False)  # the session's connector sets it when it takes a connection
        try:
            async with session.post(
                self.url,
                data=orjson.dumps(body),
                headers=self._request_headers,
                timeout=self._request_timeout,
            ) as http:
                response.t_first_byte = time.perf_counter()
                response.http_status = http.status
                if http.status >= 400:
                    raw = await http.content.read(_ERROR_BODY_LIMIT)
                    raise _RequestFailed(
                        _http_error_type(http.status),
                        _error_message(http.status, http.reason, raw),
                        retry_after=_retry_after_seconds(http.headers.get("Retry-After")),
                    )
                if self.stream:
                    await self._read_stream(http, response)
                else:
                    await self._read_whole(http, response)
        except _RequestFailed:
            raise
        except asyncio.TimeoutError as exc:  # aiohttp's timeouts subclass it
            raise _RequestFailed("timeout", _short(f"timed out: {type(exc).__name__} {exc}".strip())) from None
        except aiohttp.ClientConnectorError as exc:
            raise _RequestFailed("connect", _short(f"cannot connect: {exc}")) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError,
                aiohttp.ClientPayloadError) as exc:
            if response.http_status is None:
                if allow_stale_retry and reused_connection.get():
                    raise _StaleConnection() from None
                raise _RequestFailed("connect", _short(f"connection lost before a response: {exc!r}")) from None
            raise _RequestFailed("broken_stream", _short(f"connection lost mid-response: {exc!r}")) from None
        except aiohttp.ClientResponseError as exc:
            raise _RequestFailed("protocol", _short(f"malformed response: {exc.message}")) from None
        except aiohttp.ClientError as exc:
            raise _RequestFailed("connect", _short(f"{type(exc).__name__}: {exc}")) from None

    async def _read_stream(self, http: aiohttp.ClientResponse, response: InvocationResponse) -> None:
        content_type = http.headers.get("Content-Type", "")
        if "text/event-stream" not in content_type:
            raw = await http.content.read(_ERROR_BODY_LIMIT)
            raise _RequestFailed(
                "protocol",
                _short(f"expected an event stream, got {content_type or 'no content type'}: "
                       f"{raw[:120].decode('utf-8', errors='replace')}"),
            )
        parser = SSEParser(max_event_bytes=self.max_event_bytes)
        parts: list[str] = []
        content_chunks = 0
        done = False
        watchdog: _TokenWatchdog | None = None
        try:
            async with asyncio.timeout(None) as token_deadline:
                if self.token_timeout is not None:
                    watchdog = _TokenWatchdog(self.token_timeout, token_deadline, response)
                try:
                    async for raw in http.content.iter_any():
                        now = time.perf_counter()  # stamped on arrival, before any parsing
                        oversize = False
                        try:
                            events = parser.feed(raw)
                        except EventTooLarge as exc:  # what the read completed before it counts
                            events, oversize = exc.events, True
                        for data in events:
                            if data == b"[DONE]":
                                done = True
                                break
                            content_chunks += self._consume_event(data, now, response, parts)
                        if done:
                            break
                        if oversize:
                            raise _RequestFailed("protocol", _short(
                                f"an SSE event exceeded max_event_bytes={self.max_event_bytes} "
                                "(an endless line, or an event that never ends); raise "
                                "max_event_bytes= if the server really sends events this large"))
                finally:
                    if watchdog is not None:
                        watchdog.cancel()
        except TimeoutError:
            if not token_deadline.expired():
                raise  # aiohttp's own timeouts: the caller classifies them
            raise _RequestFailed("timeout", _short(
                f"no content token for {self.token_timeout} s (token_timeout={self.token_timeout};"
                " SSE comments, role-only and empty chunks do not count)"
            )) from None
        finally:
            if parts:  # a stream that breaks (or is cancelled) keeps the text that arrived
                response.response_text = "".join(parts)
        if done:
            await _read_tail(http)
        else:
            for data in parser.close():
                if data == b"[DONE]":
                    done = True
                else:
                    content_chunks += self._consume_event(data, time.perf_counter(), response, parts)
        response.response_text = "".join(parts)
        if response.token_source is None:
            response.num_tokens_output = content_chunks
            response.token_source = "counted"
        if not done and response.finish_reason is None:
            raise _RequestFailed("broken_stream", "stream ended before a finish_reason or [DONE]")

    def _consume_event(
        self, data: bytes, now: float, response: InvocationResponse, parts: list[str]
    ) -> int:
        """Apply one SSE event; returns 1 if it carried output text.

        Runs for every token of every client on one event loop: the stamps below are a few
        attribute reads and writes, and a gap is one subtraction and one append.
        """
        response.chunks += 1
        try:
            event = orjson.loads(data)  # several times faster than json.loads, per token
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            shown = data[:120].decode("utf-8", errors="replace")
            raise _RequestFailed("protocol", _short(f"not a JSON object in stream: {shown}"))
        if event.get("error"):
            err = event["error"]
            message = err.get("message", err) if isinstance(err, dict) else err
            raise _RequestFailed("broken_stream", _short(f"server error mid-stream: {message}"))
        if event.get("usage"):
            self._apply_usage(event["usage"], response)
        carried = 0
        choices = event.get("choices") or []
        if choices and isinstance(choices[0], dict):
            choice = choices[0]
            text, reasoning = self._choice_text(choice)
            if text:
                if response.t_first_token is None:
                    response.t_first_token = now
                else:
                    gaps = response.inter_token_latencies
                    if gaps is None:  # this is the second output event
                        response.t_second_token = now
                        response.inter_token_latencies = [now - response.t_last_token]
                    else:
                        gaps.append(now - response.t_last_token)
                if reasoning:
                    if response.t_first_reasoning_token is None:
                        response.t_first_reasoning_token = now
                elif response.t_first_content_token is None:
                    response.t_first_content_token = now
                response.t_last_token = now
                parts.append(text)
                carried = 1
            if choice.get("finish_reason"):
                response.finish_reason = choice["finish_reason"]
        return carried

    async def _read_whole(self, http: aiohttp.ClientResponse, response: InvocationResponse) -> None:
        raw = await http.read()
        now = time.perf_counter()
        try:
            body = json.loads(raw)
            choice = body["choices"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _RequestFailed(
                "protocol", _short(f"not an OpenAI response: {raw[:120].decode('utf-8', 'replace')}")
            ) from None
        response.chunks = 1
        content, reasoning = self._message_text(choice)
        response.response_text = content or reasoning or ""
        response.finish_reason = choice.get("finish_reason")
        # Without streaming the whole answer arrives at once: first token = last token, and
        # the first content / reasoning token too, for the kinds of text the message has.
        response.t_first_token = response.t_last_token = now
        if content:
            response.t_first_content_token = now
        if reasoning:
            response.t_first_reasoning_token = now
        if body.get("usage"):
            self._apply_usage(body["usage"], response)

    @staticmethod
    def _apply_usage(usage: dict, response: InvocationResponse) -> None:
        if not isinstance(usage, dict):
            return
        response.num_tokens_input = usage.get("prompt_tokens", response.num_tokens_input)
        if usage.get("completion_tokens") is not None:
            response.num_tokens_output = usage["completion_tokens"]
            response.token_source = "usage"
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
        if cached is not None:
            response.num_tokens_input_cached = cached
        reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
        if reasoning is not None:
            response.num_tokens_output_reasoning = reasoning


class _StaleConnection(Exception):
    """Internal: a reused pooled connection died before the server answered."""


class _TokenWatchdog:
    """Expires `deadline` (an `asyncio.timeout`) once no content token came for `seconds`.

    Lazy, so that a token costs nothing: the timer fires once per period, reads the last
    token's stamp (`response.t_last_token`, taken by the reader anyway) and re-arms itself
    for the time still left. The wait starts now (the response headers are in).
    """

    __slots__ = ("_deadline", "_handle", "_loop", "_response", "_seconds", "_start")

    def __init__(self, seconds: float, deadline: asyncio.Timeout,
                 response: InvocationResponse) -> None:
        self._seconds = seconds
        self._deadline = deadline
        self._response = response
        self._start = time.perf_counter()
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(seconds, self._check)

    def _check(self) -> None:
        last = self._response.t_last_token
        since = self._start if last is None or last < self._start else last
        left = since + self._seconds - time.perf_counter()
        if left > 0:
            self._handle = self._loop.call_later(left, self._check)
        else:
            self._deadline.reschedule(self._loop.time())  # cancels the read, as a TimeoutError

    def cancel(self) -> None:
        self._handle.cancel()


class OpenAIChatEndpoint(_OpenAIEndpoint):
    """`/chat/completions` of any OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama, ...).

    Example:
        >>> ep = OpenAIChatEndpoint(base_url="http://127.0.0.1:8000/v1", model="sim")
        >>> payload = OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=64)
        >>> payload["messages"][0]
        {'role': 'user', 'content': 'Tell me a story'}
    """

    api_path = "/chat/completions"

    @staticmethod
    def create_payload(
        user_message: str | list[str], max_tokens: int = 256, **kwargs: Any
    ) -> dict | list[dict]:
        """A chat payload for one message, or a list of payloads for a list of messages."""
        if isinstance(user_message, list):
            return [OpenAIChatEndpoint.create_payload(m, max_tokens, **kwargs) for m in user_message]
        return {
            "messages": [{"role": "user", "content": user_message}],
            "max_tokens": max_tokens,
            **kwargs,
        }

    @staticmethod
    def _prompt_of(payload: dict) -> str | None:
        messages = payload.get("messages") or []
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return None

    @staticmethod
    def _choice_text(choice: dict) -> tuple[str | None, bool]:
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if content:  # a delta carrying both counts as content (its text is the content)
            return content, False
        # Reasoning models stream their thinking first; it is output the user waits for.
        # vLLM and SGLang say reasoning_content (newer vLLM: reasoning), DeepSeek
        # reasoning_content, OpenRouter reasoning.
        return delta.get("reasoning_content") or delta.get("reasoning"), True

    @staticmethod
    def _message_text(choice: dict) -> tuple[str | None, str | None]:
        message = choice.get("message") or {}
        return message.get("content"), message.get("reasoning_content") or message.get("reasoning")


class OpenAICompletionEndpoint(_OpenAIEndpoint):
    """`/completions` (the legacy text API that vLLM, TGI and llama.cpp still serve).

    Example:
        >>> OpenAICompletionEndpoint.create_payload("Once upon a time", max_tokens=32)
        {'prompt': 'Once upon a time', 'max_tokens': 32}
    """

    api_path = "/completions"

    @staticmethod
    def create_payload(
        prompt: str | list[str], max_tokens: int = 256, **kwargs: Any
    ) -> dict | list[dict]:
        """A completions payload for one prompt, or a list of payloads for a list of prompts."""
        if isinstance(prompt, list):
            return [OpenAICompletionEndpoint.create_payload(p, max_tokens, **kwargs) for p in prompt]
        return {"prompt": prompt, "max_tokens": max_tokens, **kwargs}

    @staticmethod
    def _prompt_of(payload: dict) -> str | None:
        prompt = payload.get("prompt")
        return prompt if isinstance(prompt, str) else None

    @staticmethod
    def _choice_text(choice: dict) -> tuple[str | None, bool]:
        return choice.get("text"), False  # content only: the text API has no reasoning field

    @staticmethod
    def _message_text(choice: dict) -> tuple[str | None, str | None]:
        return choice.get("text"), None
