"""A hostile or broken server must not hold a client or the kernel's memory: each stream is
bounded in size (`max_event_bytes`, a `protocol` error) and in the wait for a token
(`token_timeout`, a `timeout` error; SSE comments are not tokens).

The servers here are small aiohttp apps on 127.0.0.1, written by hand to misbehave.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import tracemalloc

import pytest
from aiohttp import web

from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.endpoints.sse import EventTooLarge, SSEParser

from .test_endpoints import serve


def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


ROLE = _sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]})


def _token(text: str) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": {"content": text}}]})


FINISH = _sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n"
KEEP_ALIVE = b": keep-alive\n\n"


async def _stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    return resp


# -- the parser's bound -------------------------------------------------------------------------
def test_parser_never_holds_more_than_its_limit():
    rng = random.Random(7)
    limit = 10_000
    for shape in (b"data: " + b"x" * 50, b"data: x\n", b": comment " * 5, b"x" * 50):
        parser = SSEParser(max_event_bytes=limit)
        with pytest.raises(EventTooLarge, match="exceeded 10000 bytes") as caught:
            for _ in range(10_000):  # 500 kB or more, in reads of random sizes, no blank line
                data = shape * rng.randint(1, 5)
                assert parser.feed(data) == []
                assert parser.pending_bytes <= limit
        assert caught.value.limit == limit


def test_parser_limit_is_per_event_and_exact():
    line = b"data: " + b"y" * 93  # 99 bytes; with its line end the event holds 100
    event = line + b"\n\n"
    for limit, fits in ((100, True), (99, False)):
        whole, bytewise = SSEParser(max_event_bytes=limit), SSEParser(max_event_bytes=limit)
        if fits:
            # many such events, far more than the limit in all, with comments between
            assert whole.feed((event + KEEP_ALIVE) * 50) == [b"y" * 93] * 50
            got = [e for i in range(len(event)) for e in bytewise.feed(event[i:i + 1])]
            assert got == [b"y" * 93]
        else:
            with pytest.raises(EventTooLarge):
                whole.feed(event)
            with pytest.raises(EventTooLarge):
                for i in range(len(event)):
                    bytewise.feed(event[i:i + 1])


def test_oversize_event_keeps_the_events_before_it_in_the_same_read():
    parser = SSEParser(max_event_bytes=1000)
    with pytest.raises(EventTooLarge) as caught:
        parser.feed(b"data: a\n\ndata: b\n\n" + b"data: " + b"z" * 2000)
    assert caught.value.events == [b"a", b"b"]
    unlimited = SSEParser()  # no limit unless asked: the parser alone stays a plain parser
    assert unlimited.feed(b"data: " + b"z" * 2000) == [] and unlimited.pending_bytes == 2006


# -- an endless event: failed as protocol, memory bounded ---------------------------------------
SENT_AT_MOST = 16_000_000  # the server gives up after this much (an old client read it all)
LIMIT = 256_000


def _endless(piece: bytes, head: bytes):
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = await _stream(request)
        await resp.write(ROLE + _token("first") + head)
        sent = 0
        try:
            while sent < SENT_AT_MOST:
                await resp.write(piece)
                sent += len(piece)
        except (ConnectionError, RuntimeError):  # the client hung up
            pass
        return resp
    return handler


@pytest.mark.parametrize("shape", ["one endless line", "data lines never ended"])
async def test_endless_event_fails_as_protocol_with_bounded_memory(session, chat_payload, shape):
    piece, head = ((b"x" * 65_536, b"data: ") if shape == "one endless line"
                   else (b"data: more text\n" * 4096, b""))
    async with serve({"/v1/chat/completions": _endless(piece, head)}) as url:
        ep = OpenAIChatEndpoint(base_url=url + "/v1", model="m", max_event_bytes=LIMIT)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            r = await ep.invoke(session, chat_payload)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert r.error_type == "protocol", r.error
    assert f"max_event_bytes={LIMIT}" in r.error
    assert r.response_text == "first" and r.time_to_first_token is not None  # what came is kept
    # An unbounded parser holds all 16 MB (and copies it). Ours holds one event at most (a
    # bytearray: up to twice that while it grows), plus what one read costs: aiohttp's buffer,
    # and the read split into lines (up to ~256 kB of 16-byte lines: ~1 MB of bytes objects).
    # Seen: 0.8 MB for the line, 1.7 MB for the data lines.
    assert peak < 2.5 * LIMIT + 1_500_000, f"peak traced memory {peak:,} bytes"
    assert r.t_end - r.t_send < 5.0  # ended by the limit, not by the server giving up


@pytest.mark.parametrize("ended", [False, True])
async def test_oversize_event_in_the_same_read_as_tokens(session, chat_payload, ended):
    """The tokens before it count; after the stream's end ([DONE]) it is ignored."""
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = await _stream(request)
        head = ROLE + _token("first") + (FINISH if ended else b"")
        await resp.write(head + b"data: " + b"x" * 3000)  # one small write: one read
        return resp

    async with serve({"/v1/chat/completions": handler}) as url:
        ep = OpenAIChatEndpoint(base_url=url + "/v1", model="m", max_event_bytes=1000)
        r = await ep.invoke(session, chat_payload)
    if ended:
        assert r.ok, r.error
    else:
        assert r.error_type == "protocol" and "max_event_bytes=1000" in r.error, r.error
    assert r.response_text == "first" and r.time_to_first_token is not None


def test_max_event_bytes_default_and_validation():
    ep = OpenAIChatEndpoint(base_url="http://h/v1", model="m")
    assert ep.max_event_bytes == 1_000_000 and ep.to_config()["max_event_bytes"] == 1_000_000
    for bad in (0, -5, 1.5, True, None, "1000"):
        with pytest.raises(ValueError, match="max_event_bytes must be a whole number of bytes"):
            OpenAIChatEndpoint(base_url="http://h/v1", model="m", max_event_bytes=bad)


# -- the token timeout -----------------------------------------------------------------------------
TOKEN_TIMEOUT = 0.5
COMMENT_EVERY = 0.05  # far below any read_timeout: bytes keep arriving


async def _comments_for(resp: web.StreamResponse, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await resp.write(KEEP_ALIVE)
        await asyncio.sleep(COMMENT_EVERY)


async def _keep_alive_only(request: web.Request) -> web.StreamResponse:
    resp = await _stream(request)
    await resp.write(ROLE)  # a role-only chunk is no token either
    try:
        await _comments_for(resp, 10.0)
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def _token_then_keep_alive(request: web.Request) -> web.StreamResponse:
    resp = await _stream(request)
    await resp.write(ROLE + _token("partial"))
    try:
        await _comments_for(resp, 10.0)
    except (ConnectionError, RuntimeError):
        pass
    return resp


GAP = 0.35  # between tokens, filled with comments: below TOKEN_TIMEOUT, but 4 of them exceed it


async def _slow_tokens_with_comments(request: web.Request) -> web.StreamResponse:
    resp = await _stream(request)
    await resp.write(ROLE)
    for word in ("one", " two", " three", " four"):
        await _comments_for(resp, GAP)
        await resp.write(_token(word))
    await resp.write(FINISH)
    return resp


async def _silent_after_headers(request: web.Request) -> web.StreamResponse:
    resp = await _stream(request)
    end = time.monotonic() + 10.0  # silent until the client leaves (so cleanup need not wait)
    while time.monotonic() < end and request.transport is not None \
            and not request.transport.is_closing():
        await asyncio.sleep(0.02)
    return resp


@pytest.fixture
async def token_servers():
    async with serve({
        "/keepalive/v1/chat/completions": _keep_alive_only,
        "/stall/v1/chat/completions": _token_then_keep_alive,
        "/slow/v1/chat/completions": _slow_tokens_with_comments,
        "/silent/v1/chat/completions": _silent_after_headers,
    }) as url:
        yield url


def _ep(url: str, **kw) -> OpenAIChatEndpoint:
    return OpenAIChatEndpoint(base_url=url, model="m", token_timeout=TOKEN_TIMEOUT, **kw)


async def test_keep_alive_comments_alone_fail_as_timeout(token_servers, session, chat_payload):
    r = await _ep(token_servers + "/keepalive/v1", read_timeout=5.0).invoke(session, chat_payload)
    assert r.error_type == "timeout", r.error
    assert f"token_timeout={TOKEN_TIMEOUT}" in r.error
    # never before the limit (the wait starts after the headers, later than t_send); and well
    # before the server's 10 s end or read_timeout (which comments every 50 ms keep away)
    assert TOKEN_TIMEOUT <= r.t_end - r.t_send < TOKEN_TIMEOUT + 0.5
    assert r.time_to_first_token is None


async def test_a_stall_after_a_token_fails_as_timeout_and_keeps_the_token(token_servers, session,
                                                                          chat_payload):
    r = await _ep(token_servers + "/stall/v1").invoke(session, chat_payload)
    assert r.error_type == "timeout" and "token_timeout" in r.error, r.error
    assert r.response_text == "partial" and r.time_to_first_token is not None
    assert TOKEN_TIMEOUT <= r.t_end - r.t_first_token < TOKEN_TIMEOUT + 0.5


async def test_comments_between_tokens_within_the_timeout_succeed(token_servers, session,
                                                                  chat_payload):
    r = await _ep(token_servers + "/slow/v1").invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.response_text == "one two three four"
    # the whole stream took longer than token_timeout: the wait restarts at every token
    assert r.time_to_last_token >= 4 * GAP > TOKEN_TIMEOUT
    assert r.time_to_first_token >= GAP


async def test_a_silent_server_still_trips_read_timeout_not_token_timeout(token_servers, session,
                                                                         chat_payload):
    ep = OpenAIChatEndpoint(base_url=token_servers + "/silent/v1", model="m", read_timeout=0.3,
                            token_timeout=5.0)
    r = await ep.invoke(session, chat_payload)
    assert r.error_type == "timeout" and "token_timeout" not in r.error, r.error
    assert 0.3 <= r.t_end - r.t_send < 5.0


def test_token_timeout_default_and_validation():
    ep = OpenAIChatEndpoint(base_url="http://h/v1", model="m")
    assert ep.token_timeout == 120.0 and ep.to_config()["token_timeout"] == 120.0
    assert OpenAIChatEndpoint(base_url="http://h/v1", model="m", token_timeout=None).token_timeout is None
    for bad in (0, -1, "5", True):
        with pytest.raises(ValueError, match="token_timeout must be a positive number"):
            OpenAIChatEndpoint(base_url="http://h/v1", model="m", token_timeout=bad)
