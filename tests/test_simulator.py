"""The embedded simulated server: OpenAI shapes, latency models, connection quirks, process, CLI.

Everything runs against a real server on 127.0.0.1 with a real aiohttp client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
import pytest

from llmeter_widget.simulator import SimulatedServer, SimulatorConfig, SimulatorProcess
from llmeter_widget.simulator.cli import add_arguments, main
from llmeter_widget.simulator.text import VOCAB

from .waiting import eventually

CHAT = [{"role": "user", "content": "Say something about load testing."}]


async def sse_events(resp: aiohttp.ClientResponse) -> list[Any]:
    """The `data:` payloads of an SSE response, JSON-decoded ("[DONE]" kept as a string)."""
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events: list[Any] = []
    async for raw in resp.content:
        line = raw.decode().strip()
        if not line:
            continue
        assert line.startswith("data: "), line
        data = line[len("data: "):]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events


async def post(session: aiohttp.ClientSession, url: str, body: dict) -> tuple[int, Any]:
    async with session.post(url, json=body) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def fast_server():
    """An instant server (fixed mode, no latency) for shape tests."""
    async with SimulatedServer(mode="fixed", ttft=0, itl=0) as server:
        yield server


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


# -- OpenAI shapes ---------------------------------------------------------------------------


async def test_models_lists_the_configured_model(session):
    async with SimulatedServer(model="my-model", mode="fixed") as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        async with session.get(server.base_url + "/models") as resp:
            body = await resp.json()
        assert resp.status == 200
        assert body["object"] == "list"
        assert [m["id"] for m in body["data"]] == ["my-model"]
        async with session.get(server.base_url + "/models/my-model") as resp:
            assert (await resp.json())["id"] == "my-model"


@pytest.mark.parametrize("include_usage", [False, True])
async def test_chat_stream_shape(fast_server, session, include_usage):
    body = {"model": "sim", "messages": CHAT, "max_tokens": 7, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    async with session.post(fast_server.base_url + "/chat/completions", json=body) as resp:
        events = await sse_events(resp)

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"].startswith("chatcmpl-") and chunk["id"] == chunks[0]["id"]
        assert chunk["model"] == "sim"
        assert isinstance(chunk["created"], int)
    # role-only first chunk, like OpenAI
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "logprobs": None, "finish_reason": None}]
    if include_usage:
        usage_chunk = chunks[-1]
        chunks = chunks[:-1]
        assert usage_chunk["choices"] == []
        prompt_tokens = -(-len(CHAT[0]["content"]) // 4)
        assert usage_chunk["usage"] == {"prompt_tokens": prompt_tokens, "completion_tokens": 7,
                                        "total_tokens": prompt_tokens + 7}
        # like OpenAI: with include_usage the other chunks carry "usage": null
        assert all(c["usage"] is None for c in chunks)
    else:
        assert all("usage" not in c for c in chunks)
    tokens = chunks[1:-1]
    assert len(tokens) == 7
    for chunk in tokens:
        (choice,) = chunk["choices"]
        assert choice["finish_reason"] is None
        content = choice["delta"]["content"]
        assert content.startswith(" ") and content[1:] in VOCAB
        assert "role" not in choice["delta"]
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "logprobs": None,
                                      "finish_reason": "length"}]


@pytest.mark.parametrize("include_usage", [False, True])
async def test_completions_stream_shape(fast_server, session, include_usage):
    body = {"model": "sim", "prompt": "abcdefghij", "max_tokens": 5, "stream": True,
            "stream_options": {"include_usage": include_usage}}
    async with session.post(fast_server.base_url + "/completions", json=body) as resp:
        events = await sse_events(resp)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "text_completion" and c["id"].startswith("cmpl-") for c in chunks)
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 5,
                                       "total_tokens": 8}
        chunks = chunks[:-1]
    else:
        assert all("usage" not in c for c in chunks)
    assert len(chunks) == 6
    assert all(c["choices"][0]["text"][1:] in VOCAB for c in chunks[:-1])
    assert chunks[-1]["choices"][0]["text"] == ""
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_non_streaming_chat_and_completions(fast_server, session):
    url = fast_server.base_url
    status, chat = await post(session, url + "/chat/completions",
                              {"model": "sim", "messages": CHAT, "max_completion_tokens": 6})
    assert status == 200
    assert chat["object"] == "chat.completion" and chat["model"] == "sim"
    assert {"id", "created"} <= chat.keys()
    (choice,) = chat["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"].split()) == 6
    assert chat["usage"]["completion_tokens"] == 6
    assert chat["usage"]["total_tokens"] == chat["usage"]["prompt_tokens"] + 6

    # the same prompt streamed gives the same text
    async with session.post(url + "/chat/completions", json={
            "model": "sim", "messages": CHAT, "max_tokens": 6, "stream": True}) as resp:
        events = await sse_events(resp)
    streamed = "".join(e["choices"][0]["delta"].get("content") or ""
                       for e in events[:-1] if e["choices"])
    assert streamed == choice["message"]["content"]

    status, comp = await post(session, url + "/completions",
                              {"model": "sim", "prompt": ["abcd", "efgh"], "max_tokens": 3})
    assert status == 200
    assert comp["object"] == "text_completion"
    assert len(comp["choices"][0]["text"].split()) == 3
    assert comp["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    assert fast_server.requests_served == 3


async def test_prompt_token_count_and_output_length(session):
    async with SimulatedServer(mode="fixed", ttft=0, itl=0, output_tokens=5) as server:
        url = server.base_url + "/chat/completions"
        messages = [{"role": "system", "content": "abcde"},  # 5 + 4 chars -> ceil(9/4) = 3
                    {"role": "user", "content": [{"type": "text", "text": "fghi"}]}]
        status, body = await post(session, url, {"model": "sim", "messages": messages,
                                                 "max_tokens": 50})
        assert status == 200
        assert body["usage"]["prompt_tokens"] == 3
        # capped by output_tokens below max_tokens: a natural stop
        assert body["usage"]["completion_tokens"] == 5
        assert body["choices"][0]["finish_reason"] == "stop"
        status, body = await post(session, url, {"model": "sim", "messages": messages,
                                                 "max_tokens": 2})
        assert body["usage"]["completion_tokens"] == 2
        assert body["choices"][0]["finish_reason"] == "length"
    async with SimulatedServer(mode="fixed", ttft=0, itl=0) as server:
        # no max_tokens: 128 tokens; a missing model is served as the configured one
        status, body = await post(session, server.base_url + "/chat/completions",
                                  {"messages": CHAT})
        assert status == 200
        assert body["usage"]["completion_tokens"] == 128


async def test_errors_are_openai_shaped(fast_server, session):
    url = fast_server.base_url
    status, body = await post(session, url + "/chat/completions",
                              {"model": "gpt-nope", "messages": CHAT})
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "model_not_found"
    assert "gpt-nope" in body["error"]["message"]

    async with session.post(url + "/chat/completions", data=b"{not json",
                            headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"

    status, body = await post(session, url + "/chat/completions", {"model": "sim"})
    assert status == 400 and "messages" in body["error"]["message"]
    status, body = await post(session, url + "/chat/completions",
                              {"model": "sim", "messages": []})
    assert status == 400
    status, body = await post(session, url + "/completions", {"model": "sim"})
    assert status == 400 and "prompt" in body["error"]["message"]
    status, body = await post(session, url + "/chat/completions",
                              {"model": "sim", "messages": CHAT, "max_tokens": 0})
    assert status == 400 and body["error"]["param"] == "max_tokens"
    async with session.get(url + "/no/such/path") as resp:
        assert resp.status == 404
        assert "error" in await resp.json()
    assert fast_server.requests_served == 0


async def test_seeded_token_text_is_deterministic(session):
    async def answer(seed: int, content: str) -> str:
        async with SimulatedServer(mode="fixed", ttft=0, itl=0, seed=seed) as server:
            status, body = await post(session, server.base_url + "/chat/completions", {
                "model": "sim", "messages": [{"role": "user", "content": content}],
                "max_tokens": 30})
            return body["choices"][0]["message"]["content"]

    first = await answer(1, "hello")
    assert first == await answer(1, "hello")
    assert first != await answer(2, "hello")
    assert first != await answer(1, "another prompt")


# -- latency models ------------------------------------------------------------------------------


async def raw_token_times(port: int, max_tokens: int) -> tuple[float, list[float]]:
    """Send one streaming chat request over a bare socket; return (send time, token times).

    A token is counted when its `"delta":{"content":` chunk is seen (the role chunk has "role"
    first, so it is not).
    """
    body = json.dumps({"model": "sim", "messages": CHAT, "max_tokens": max_tokens,
                       "stream": True}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    marker = b'"delta":{"content":'
    times: list[float] = []
    buffer = b""
    try:
        sent = time.perf_counter()
        writer.write(head + body)
        while True:
            data = await reader.read(65536)
            now = time.perf_counter()
            if not data:
                break
            buffer += data
            times += [now] * (buffer.count(marker) - len(times))
    finally:
        writer.close()
    return sent, times


async def test_fixed_mode_timing_is_exact():
    ttft, itl, n = 0.05, 0.01, 20
    async with SimulatedServer(mode="fixed", ttft=ttft, itl=itl) as server:
        ttfts, gaps, ttlts = [], [], []
        for _ in range(6):
            sent, times = await raw_token_times(server.port, n)
            assert len(times) == n
            ttfts.append(times[0] - sent)
            gaps += [b - a for a, b in zip(times[:-1], times[1:], strict=True)]
            ttlts.append(times[-1] - sent)
    # Never early (a token is held until its time: 1 ms for the clock and the socket); late only
    # by a loaded 2-core machine's wake-ups, so judge medians, with slack below one interval's
    # worth of error: a token sent one ITL off, or a first token sent at once, fails.
    slack = 0.008
    assert ttft - 0.001 <= statistics.median(ttfts) < ttft + slack, ttfts
    assert itl - 0.001 <= statistics.median(gaps) < itl + slack, gaps
    # absolute deadlines: the last token is not late by the sum of n wake-up delays
    ttlt = ttft + (n - 1) * itl
    assert ttlt - 0.001 <= statistics.median(ttlts) < ttlt + slack, ttlts


CURVE = dict(mode="batching", max_batch=8, decode_base=0.02, decode_per_seq=0.001,
             prefill_base=0.002, prefill_per_token=0.0, jitter=0.05)
CURVE_TOKENS = 20


async def measure_concurrency(session: aiohttp.ClientSession, url: str,
                              concurrency: int) -> tuple[float, float]:
    """`concurrency` streaming requests at once; return (aggregate tokens/s, mean TTFT)."""

    async def one() -> tuple[float, int]:
        sent = time.perf_counter()
        first = None
        count = 0
        async with session.post(url, json={"model": "sim", "messages": CHAT, "stream": True,
                                           "max_tokens": CURVE_TOKENS}) as resp:
            async for raw in resp.content:
                if raw.startswith(b"data: {") and b'"content":" ' in raw:
                    count += 1
                    if first is None:
                        first = time.perf_counter() - sent
        assert first is not None
        return first, count

    start = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    tokens = sum(count for _, count in results)
    assert tokens == concurrency * CURVE_TOKENS
    return tokens / elapsed, statistics.mean(ttft for ttft, _ in results)


async def test_batching_curve_saturates_and_ttft_climbs():
    connector = aiohttp.TCPConnector(limit=0)
    async with SimulatedServer(**CURVE) as server, aiohttp.ClientSession(
            connector=connector) as session:
        url = server.base_url + "/chat/completions"
        batch = CURVE["max_batch"]
        curve = {c: await measure_concurrency(session, url, c) for c in (1, batch, 4 * batch)}
        assert server.peak_active == batch
    print("\nbatching curve (concurrency: tokens/s, mean TTFT s):",
          {c: (round(tps, 1), round(ttft, 4)) for c, (tps, ttft) in curve.items()})
    (tps1, _), (tps8, ttft8), (tps32, ttft32) = curve[1], curve[batch], curve[4 * batch]
    assert tps8 / tps1 > 3, curve  # batching pays: more streams, more tokens/s
    assert tps32 / tps8 < 1.3, curve  # saturated past max_batch
    assert ttft32 / ttft8 > 3, curve  # queueing: TTFT climbs steeply past max_batch


async def test_batching_engine_idles_and_frees_slot_on_disconnect(session):
    # max_batch=1: a second request can only start once the first leaves the batch
    async with SimulatedServer(mode="batching", max_batch=1, decode_base=0.01, jitter=0,
                               decode_per_seq=0, prefill_base=0) as server:
        url = server.base_url + "/chat/completions"
        body = {"model": "sim", "messages": CHAT, "stream": True, "max_tokens": 1000}
        resp = await session.post(url, json=body)
        await resp.content.readline()  # role chunk
        await resp.content.readline()
        await resp.content.readline()  # first token
        assert server.active == 1
        resp.close()  # disconnect long before the 1000 tokens (10 s)
        await eventually(lambda: server.active == 0, "the server to drop the request")
        assert server.requests_cancelled == 1
        started = time.perf_counter()
        status, answer = await post(session, url, {"model": "sim", "messages": CHAT,
                                                   "max_tokens": 3})
        assert status == 200 and time.perf_counter() - started < 1.0
        # idle: no steps run while nothing is active
        engine = server._engine
        steps = engine.steps
        await asyncio.sleep(0.2)
        assert engine.steps == steps


async def test_queue_counters_and_stop_with_requests_in_flight(session):
    server = SimulatedServer(mode="batching", max_batch=2, decode_base=0.01, jitter=0)
    await server.start()
    url = server.base_url + "/chat/completions"
    body = {"model": "sim", "messages": CHAT, "max_tokens": 10000}
    tasks = [asyncio.ensure_future(post(session, url, body)) for _ in range(5)]
    await eventually(lambda: (server.active, server.queued) == (2, 3), "2 served and 3 queued",
                     describe=lambda: (server.active, server.queued))
    started = time.perf_counter()
    await server.stop()
    assert time.perf_counter() - started < 2.0
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, aiohttp.ClientError) for r in results), results


# -- close_after_response ---------------------------------------------------------------------


async def sequential_streams(base_url: str, n: int, **session_kwargs: Any) -> tuple[int, set]:
    """n sequential streaming chat requests on one session; return (failures, error types)."""
    failures, kinds = 0, set()
    async with aiohttp.ClientSession(**session_kwargs) as client:
        for _ in range(n):
            try:
                async with client.post(base_url + "/chat/completions", json={
                        "model": "sim", "messages": CHAT, "max_tokens": 3, "stream": True,
                        "stream_options": {"include_usage": True}}) as resp:
                    if not session_kwargs:  # the server still advertises keep-alive
                        assert "close" not in resp.headers.get("Connection", "").lower()
                    events = await sse_events(resp)
                    assert events[-1] == "[DONE]"
            except (aiohttp.ClientError, ConnectionError) as exc:
                failures += 1
                kinds.add(type(exc).__name__)
    return failures, kinds


async def test_close_after_response_breaks_a_naive_pooled_client():
    async with SimulatedServer(mode="fixed", ttft=0.005, itl=0.001,
                               close_after_response=True) as server:
        failures, kinds = await sequential_streams(server.base_url, 20)
        print(f"\nclose_after_response: naive pooled client failed {failures}/20 ({kinds})")
        # every reused connection is dropped: about every second request fails
        assert failures >= 5, (failures, kinds)
        assert kinds <= {"ServerDisconnectedError", "ClientOSError"}
        assert server.connections_dropped == failures
        # a client that does not reuse connections is fine: the fix can be shown to matter
        fixed, _ = await sequential_streams(
            server.base_url, 20, connector=aiohttp.TCPConnector(force_close=True))
        assert fixed == 0
    async with SimulatedServer(mode="fixed", ttft=0.005, itl=0.001) as server:
        assert (await sequential_streams(server.base_url, 20))[0] == 0


# -- process, CLI, validation ------------------------------------------------------------------


async def test_spawn_serves_and_stop_ends_the_process(session):
    proc = SimulatedServer.spawn(mode="fixed", ttft=0, itl=0, model="spawned")
    try:
        assert isinstance(proc, SimulatorProcess) and proc.is_running()
        assert proc.base_url == f"http://127.0.0.1:{proc.port}/v1"
        status, body = await post(session, proc.base_url + "/chat/completions",
                                  {"model": "spawned", "messages": CHAT, "max_tokens": 4})
        assert status == 200 and body["usage"]["completion_tokens"] == 4
    finally:
        shown = await asyncio.to_thread(proc.stop)
    # ended, with its exit code on returncode; stop() itself returns None, so a notebook cell
    # ending in `server.stop()` prints nothing (it printed 0: issue 12, finding 7)
    assert shown is None and proc.returncode is not None and not proc.is_running()
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, proc.base_url + "/chat/completions", {"messages": CHAT})


def test_spawn_context_manager_and_clear_errors():
    with SimulatedServer.spawn(mode="fixed") as proc:
        pid = proc.pid
        # a second child on the same port cannot bind: a clear error with the child's stderr
        busy = "(?s)exited with code 1.*cannot serve.*Address already in use"
        with pytest.raises(RuntimeError, match=busy):
            SimulatedServer.spawn(port=proc.port, timeout=10)
    assert not proc.is_running() and proc.pid == pid
    # bad options fail in the parent, before any process starts
    with pytest.raises(ValueError, match="max_batch"):
        SimulatedServer.spawn(max_batch=0)


@pytest.mark.parametrize(("options", "fragment"), [
    ({"max_batch": 0}, "max_batch must be >= 1"),
    ({"mode": "turbo"}, "unknown mode 'turbo'"),
    ({"ttft": -0.1}, "ttft must be >= 0"),
    ({"itl": -1}, "itl must be >= 0"),
    ({"decode_per_seq": -0.001}, "decode_per_seq must be >= 0"),
    ({"decode_base": 0, "decode_per_seq": 0}, "decode_base"),
    ({"jitter": 1.5}, "jitter must be a number in"),
    ({"port": 70000}, "port must be <= 65535"),
    ({"output_tokens": 0}, "output_tokens must be >= 1"),
    ({"model": ""}, "model must be a non-empty string"),
    ({"max_batch": 2.5}, "max_batch must be an integer"),
])
def test_invalid_options_raise_clear_value_errors(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        SimulatedServer(**options)


def test_cli_arguments_map_to_options(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    ns = parser.parse_args(["--mode", "fixed", "--ttft", "0.2", "--max-batch", "4",
                            "--output-tokens", "7", "--close-after-response", "--port", "0"])
    server = SimulatedServer.from_args(ns)
    cfg = server.config
    assert (cfg.mode, cfg.ttft, cfg.max_batch, cfg.output_tokens, cfg.close_after_response) == (
        "fixed", 0.2, 4, 7, True)
    # defaults of the CLI are the defaults of the Python API
    assert SimulatorConfig.from_namespace(parser.parse_args([])) == SimulatorConfig()
    # the config survives the trip through argv (what spawn() does)
    assert SimulatorConfig.from_namespace(parser.parse_args(cfg.to_argv())) == cfg
    assert main(parser.parse_args(["--max-batch", "0"])) == 2
    assert "max_batch must be >= 1" in capsys.readouterr().err
