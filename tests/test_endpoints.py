"""One request, measured: against the simulator and against small real servers that misbehave
the way real LLM servers do (llama.cpp's null role chunk, usage on the finish chunk, closed
keep-alive connections)."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from statistics import median

import pytest
from aiohttp import web

from llmeter_widget.endpoints import OpenAIChatEndpoint, OpenAICompletionEndpoint
from llmeter_widget.endpoints.base import TOKEN_SOURCES
from llmeter_widget.simulator import SimulatedServer

from .conftest import ITL, TTFT

# How late a busy 2-core machine may wake the reader, for medians of a few requests. Lower
# bounds are strict (the server holds every token until its time: earlier means the wrong event
# was stamped); upper bounds stay below the next event a bug could stamp instead.
SLACK = 0.030


async def test_chat_stream_timings_and_usage(fixed_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    runs = [await ep.invoke(session, chat_payload) for _ in range(5)]
    assert all(r.ok for r in runs), [r.error for r in runs]
    # Medians of 5. The server holds each token until its exact time, so a reading below the
    # truth means the wrong event was stamped; above it, a busy machine woke us late (the
    # bench measures how late, beside a bare aiohttp loop).
    ttft = median(r.time_to_first_token for r in runs)
    ttlt = median(r.time_to_last_token for r in runs)
    assert TTFT <= ttft < TTFT + SLACK  # the last token would read TTFT + 15 ITL = 0.2 s
    assert TTFT + 15 * ITL <= ttlt < TTFT + 15 * ITL + SLACK
    # (TTLT - TTFT) / (16 - 1): a uniform lateness cancels out
    assert median(r.time_per_output_token for r in runs) == pytest.approx(ITL, abs=0.0025)
    for r in runs:  # and exactly so, from the raw timestamps
        assert r.time_per_output_token == pytest.approx((r.t_last_token - r.t_first_token) / 15)
    r = runs[-1]
    assert r.http_status == 200
    assert r.num_tokens_output == 16 and r.token_source == "usage"
    assert r.num_tokens_input and r.num_tokens_input > 0
    assert r.finish_reason == "length"
    # raw timestamps are kept and ordered
    assert r.t_send < r.t_first_byte <= r.t_first_token <= r.t_last_token <= r.t_end
    assert r.request_time.tzinfo is not None
    # role chunk + 16 content chunks + finish chunk + usage chunk
    assert r.chunks == 19
    assert len(r.response_text.split()) == 16
    assert r.input_prompt == "Tell me a story"


async def test_completions_stream(fixed_server, session):
    ep = OpenAICompletionEndpoint(base_url=fixed_server.base_url, model="sim")
    r = await ep.invoke(session, OpenAICompletionEndpoint.create_payload("Once", max_tokens=5))
    assert r.ok, r.error
    assert r.num_tokens_output == 5 and r.token_source == "usage"
    # the first of 5 tokens: never before it, and before the last one (TTFT + 4 ITL)
    assert TTFT <= r.time_to_first_token < TTFT + 4 * ITL
    assert r.input_prompt == "Once"


async def test_without_usage_tokens_are_counted_and_marked(fixed_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim", include_usage=False)
    r = await ep.invoke(session, chat_payload)
    assert r.ok
    assert r.num_tokens_output == 16 and r.token_source == "counted"
    assert r.num_tokens_input is None
    assert r.token_source in TOKEN_SOURCES


async def test_non_streaming(fixed_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim", stream=False)
    r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.time_to_first_token == r.time_to_last_token
    # the whole answer: not before the server's last token, and not a second request's worth late
    assert TTFT + 15 * ITL <= r.time_to_last_token < 2 * (TTFT + 15 * ITL)
    assert r.num_tokens_output == 16 and r.token_source == "usage"


async def test_unknown_model_is_a_clear_4xx(fixed_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="no-such-model")
    r = await ep.invoke(session, chat_payload)
    assert r.error_type == "http_4xx" and r.http_status == 404
    assert "404" in r.error and "no-such-model" in r.error


async def test_connection_refused_is_classified(session, chat_payload):
    server = SimulatedServer()
    await server.start()
    url = server.base_url
    await server.stop()
    r = await OpenAIChatEndpoint(base_url=url, model="sim").invoke(session, chat_payload)
    assert r.error_type == "connect"
    assert r.time_to_first_token is None


@pytest.mark.parametrize(("url", "says"), [
    ("127.0.0.1:8000/v1", "needs http:// or https:// and a host"),
    ("http:///v1", "needs http:// or https:// and a host"),
    ("", "needs http:// or https:// and a host"),
    # a scheme and a host are there: the scheme is what is wrong (it once read "needs a scheme
    # and a host", which it has)
    ("ftp://host/v1", "uses ftp://: the API is served over http:// or https://"),
])
def test_base_url_needs_scheme_and_host(url, says):
    with pytest.raises(ValueError, match=says) as raised:
        OpenAIChatEndpoint(base_url=url, model="sim")
    assert "'http://127.0.0.1:8000/v1'" in str(raised.value)  # and an example of a right one


def test_api_key_from_env_and_never_in_config(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    ep = OpenAIChatEndpoint(base_url="http://h/v1", model="m", api_key_env="MY_KEY",
                            headers={"X-Api-Token": "tok-456"})
    assert ep._headers()["Authorization"] == "Bearer sk-secret-123"
    text = json.dumps(ep.to_config()) + repr(ep)
    assert "sk-secret-123" not in text and "tok-456" not in text
    assert "MY_KEY" in text
    with pytest.raises(ValueError, match="NOT_SET_VAR"):
        OpenAIChatEndpoint(base_url="http://h/v1", model="m", api_key_env="NOT_SET_VAR")


# -- a llama.cpp-like server: written by hand, served for real ------------------------------------
@asynccontextmanager
async def serve(routes: dict[str, object], get_routes: dict[str, object] | None = None):
    """Serve POST handlers (and GET ones) on 127.0.0.1 (a free port); yields the root URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    for path, handler in (get_routes or {}).items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()



def _sse(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


ROLE_PAUSE = 0.08  # after the role-only chunk, before the first (reasoning) token
SPLIT_PAUSE = 0.3  # between the two halves of the next event


async def _llama_like_chat(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    # role-only chunk with content null, then a pause: TTFT must not be stamped here
    await resp.write(_sse({"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}))
    await asyncio.sleep(ROLE_PAUSE)
    # reasoning text counts as the first token
    await resp.write(_sse({"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}))
    # an event split across two network writes
    event = _sse({"choices": [{"index": 0, "delta": {"content": " hello"}}]})
    await resp.write(event[:10])
    await asyncio.sleep(SPLIT_PAUSE)
    await resp.write(event[10:])
    # usage on the finish chunk (llama.cpp), no separate usage chunk
    await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 7, "completion_tokens": 2}}))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def _stream_then_drop(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_sse({"choices": [{"index": 0, "delta": {"content": "partial"}}]}))
    await asyncio.sleep(0.02)
    request.transport.close()  # the connection dies mid-stream
    return resp


async def _json_instead_of_sse(request: web.Request) -> web.Response:
    return web.json_response({"choices": [{"message": {"content": "x"}}]})


async def _bad_json_event(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(b"data: {not json\n\n")
    return resp


@pytest.fixture
async def quirky_server():
    async with serve({
        "/llama/v1/chat/completions": _llama_like_chat,
        "/drop/v1/chat/completions": _stream_then_drop,
        "/json/v1/chat/completions": _json_instead_of_sse,
        "/badjson/v1/chat/completions": _bad_json_event,
    }) as url:
        yield url


async def test_llama_cpp_stream_shape(quirky_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=quirky_server + "/llama/v1", model="m")
    r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    # not on the role-only chunk (sent at once), and on the reasoning token, not the next one
    assert ROLE_PAUSE <= r.time_to_first_token < ROLE_PAUSE + SPLIT_PAUSE
    assert r.t_first_byte - r.t_send < ROLE_PAUSE
    assert r.response_text == "hmm hello"
    # the split event is stamped when its second half arrives
    assert r.time_to_last_token - r.time_to_first_token >= SPLIT_PAUSE
    assert (r.num_tokens_input, r.num_tokens_output, r.token_source) == (7, 2, "usage")
    assert r.finish_reason == "stop"


async def test_broken_stream_keeps_ttft(quirky_server, session, chat_payload):
    r = await OpenAIChatEndpoint(base_url=quirky_server + "/drop/v1", model="m").invoke(session, chat_payload)
    assert r.error_type == "broken_stream" and "connection lost mid-response" in r.error
    # what arrived is kept: the first token's time and its text
    assert r.time_to_first_token == r.t_first_token - r.t_send > 0
    assert r.time_to_last_token is None
    assert r.response_text == "partial"


@pytest.mark.parametrize("path", ["/json/v1", "/badjson/v1"])
async def test_protocol_errors(quirky_server, session, chat_payload, path):
    r = await OpenAIChatEndpoint(base_url=quirky_server + path, model="m").invoke(session, chat_payload)
    assert r.error_type == "protocol", r.error


async def test_server_closing_kept_alive_connections_loses_no_request(session, chat_payload):
    """llama.cpp's server advertises keep-alive, then closes after each streamed response."""
    async with SimulatedServer(mode="fixed", ttft=0.005, itl=0.001,
                               close_after_response=True) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        results = [await ep.invoke(session, chat_payload) for _ in range(30)]
    errors = [r.error for r in results if not r.ok]
    assert errors == []
    # the resend path really ran (the simulator dropped requests sent on dead connections)
    assert server.connections_dropped > 0
    assert any(r.annotations.get("reconnected") for r in results)


# -- HTTP 429 and Retry-After -----------------------------------------------------------------------
@pytest.fixture
async def rate_limited_server():
    """Answers 429 (Retry-After: 0.2 s) to the first two requests, then streams."""
    calls = {"n": 0}

    async def handler(request: web.Request) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] <= 2:
            return web.json_response({"error": {"message": "slow down"}}, status=429,
                                     headers={"Retry-After": "0.2"})
        return await _llama_like_chat(request)

    async with serve({"/v1/chat/completions": handler}) as url:
        yield url + "/v1", calls


async def test_429_is_an_error_by_default(rate_limited_server, session, chat_payload):
    url, _ = rate_limited_server
    r = await OpenAIChatEndpoint(base_url=url, model="m").invoke(session, chat_payload)
    assert r.error_type == "rate_limited" and r.http_status == 429 and "slow down" in r.error
    assert r.retries is None


async def test_429_retried_after_retry_after_when_asked(rate_limited_server, session, chat_payload):
    url, calls = rate_limited_server
    ep = OpenAIChatEndpoint(base_url=url, model="m", retry_rate_limited=3)
    r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.retries == 2 and calls["n"] == 3
    # timings run from the first send: the caller waited the two Retry-Afters too
    assert r.time_to_first_token >= 0.4 + 0.075


async def test_429_retries_run_out(rate_limited_server, session, chat_payload):
    url, calls = rate_limited_server
    r = await OpenAIChatEndpoint(base_url=url, model="m", retry_rate_limited=1).invoke(session, chat_payload)
    assert r.error_type == "rate_limited" and r.retries == 1 and calls["n"] == 2


def test_retry_after_forms():
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from llmeter_widget.endpoints.openai import _retry_after_seconds

    assert _retry_after_seconds("3") == 3.0
    assert _retry_after_seconds("1.5") == 1.5
    assert _retry_after_seconds(None) is None and _retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < _retry_after_seconds(later) <= 30
    with pytest.raises(ValueError, match="retry_rate_limited"):
        OpenAIChatEndpoint(base_url="http://h/v1", model="m", retry_rate_limited=-1)


async def test_a_server_echoing_the_key_does_not_put_it_in_the_saved_error(session, chat_payload):
    async def echo_auth(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": f"bad token {request.headers['Authorization']}"
                                            f" and {request.headers['X-Tenant']}"}}, status=401)

    async with serve({"/v1/chat/completions": echo_auth}) as url:
        ep = OpenAIChatEndpoint(base_url=url + "/v1", model="m", api_key="sk-echoed-secret-42",
                                headers={"X-Tenant": "tenant-secret-7"})
        r = await ep.invoke(session, chat_payload)
    assert r.error_type == "http_4xx" and "bad token Bearer ***" in r.error
    assert "sk-echoed-secret-42" not in r.error and "tenant-secret-7" not in r.error
    assert "sk-echoed-secret-42" not in r.to_json()
