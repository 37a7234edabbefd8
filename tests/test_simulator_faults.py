"""Fault injection of the simulated server, as a raw aiohttp client sees it on the wire.

Real server on 127.0.0.1, real aiohttp client, no mocks. Every test is fast (fixed mode, no
latency) except the few that wait on purpose (stall, slow headers), which wait < 0.5 s each.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import time
from dataclasses import fields
from typing import Any

import aiohttp
import pytest

from llmeter_widget.simulator import SimulatedServer, SimulatorConfig
from llmeter_widget.simulator.cli import add_arguments, main
from llmeter_widget.simulator.config import FAULTS
from llmeter_widget.simulator.server import unused_port

CHAT = [{"role": "user", "content": "Say something about failures."}]
INSTANT = dict(mode="fixed", ttft=0, itl=0)


def chat_body(max_tokens: int = 8, stream: bool = True, include_usage: bool = True) -> dict:
    body: dict[str, Any] = {"model": "sim", "messages": CHAT, "max_tokens": max_tokens,
                            "stream": stream}
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    return body


def zero_faults(**counts: int) -> dict[str, int]:
    """The faults_injected dict with every fault at 0 but `counts`."""
    return {**dict.fromkeys(FAULTS, 0), **counts}


async def read_events(resp: aiohttp.ClientResponse) -> list[bytes]:
    """The raw `data:` payloads of an SSE response, until the end (exceptions propagate)."""
    events = []
    async for raw in resp.content:
        line = raw.strip()
        if line:
            assert line.startswith(b"data: "), line
            events.append(line[len(b"data: "):])
    return events


async def stream_until_break(resp: aiohttp.ClientResponse) -> tuple[list[bytes], Exception]:
    """Read an SSE response that must break; return (the events read before, the error)."""
    events: list[bytes] = []
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)) as info:
        async for raw in resp.content:
            if raw.strip():
                events.append(raw.strip()[len(b"data: "):])
    return events, info.value


def token_count(events: list[bytes]) -> int:
    """Token chunks among chat stream events (the role chunk and the finish chunk excluded)."""
    count = 0
    for data in events:
        if data == b"[DONE]":
            continue
        chunk = json.loads(data)
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            count += 1
    return count


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture(autouse=True)
def no_server_errors(caplog):
    """No fault may make aiohttp's server (or asyncio) log an unhandled error."""
    caplog.set_level(logging.ERROR)
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    errors = [r for r in records if r.name.split(".")[0] in ("aiohttp", "asyncio")
              and r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# -- response-level faults ---------------------------------------------------------------------


async def test_error_500_is_an_openai_server_error(session):
    async with SimulatedServer(**INSTANT, error_500_rate=1.0) as server:
        for path, body in (("/chat/completions", chat_body()),
                           ("/completions", {"model": "sim", "prompt": "x", "max_tokens": 2})):
            async with session.post(server.base_url + path, json=body) as resp:
                assert resp.status == 500
                assert resp.content_type == "application/json"
                assert (await resp.json()) == {"error": {
                    "message": "The server had an error while processing your request. "
                               "Sorry about that!",
                    "type": "server_error", "param": None, "code": None}}
        # other routes are not affected
        async with session.get(server.base_url + "/models") as resp:
            assert resp.status == 200
        assert server.faults_injected == zero_faults(error_500=2)
        assert server.requests_served == 0


async def test_error_503_is_a_proxy_html_page(session):
    async with SimulatedServer(**INSTANT, error_503_rate=1.0) as server:
        async with session.post(server.base_url + "/chat/completions", json=chat_body()) as resp:
            assert resp.status == 503
            assert resp.content_type == "text/html"
            text = await resp.text()
        assert "<title>503 Service Temporarily Unavailable</title>" in text
        assert "nginx" in text
        assert server.faults_injected == zero_faults(error_503=1)


async def test_rate_limit_429_with_retry_after(session):
    async with SimulatedServer(**INSTANT, rate_limit_rate=1.0, retry_after=2.5) as server:
        async with session.post(server.base_url + "/chat/completions", json=chat_body()) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"  # whole seconds, rounded up
            assert resp.headers["retry-after-ms"] == "2500"
            error = (await resp.json())["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
        assert "try again in 2.5s" in error["message"]
        assert server.faults_injected == zero_faults(rate_limit=1)
    async with SimulatedServer(**INSTANT, rate_limit_rate=1.0) as server:
        async with session.post(server.base_url + "/chat/completions", json=chat_body()) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1"  # the default


async def test_unauthorized_rate_and_api_key(session):
    async with SimulatedServer(**INSTANT, unauthorized_rate=1.0) as server:
        async with session.post(server.base_url + "/chat/completions", json=chat_body(),
                                headers={"Authorization": "Bearer sk-test-0123456789"}) as resp:
            assert resp.status == 401
            error = (await resp.json())["error"]
        assert error["code"] == "invalid_api_key"
        assert "sk-***********6789" in error["message"]  # masked, like OpenAI
        assert server.faults_injected == zero_faults(unauthorized=1)

    async with SimulatedServer(**INSTANT, api_key="sk-right") as server:
        url = server.base_url + "/chat/completions"
        async with session.post(url, json=chat_body(stream=False)) as resp:
            assert resp.status == 401
            error = (await resp.json())["error"]
            assert error["code"] is None and "didn't provide an API key" in error["message"]
        async with session.post(url, json=chat_body(stream=False),
                                headers={"Authorization": "Bearer sk-wrong"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "invalid_api_key"
        async with session.get(server.base_url + "/models") as resp:
            assert resp.status == 401  # every /v1 route needs the key
        async with session.get(server.url + "/health") as resp:
            assert resp.status == 200  # health checks do not
        headers = {"Authorization": "Bearer sk-right"}
        async with session.post(url, json=chat_body(stream=False), headers=headers) as resp:
            assert resp.status == 200
        async with session.get(server.base_url + "/models", headers=headers) as resp:
            assert resp.status == 200
        # a missing/wrong key is a rejection, not a random fault
        assert server.requests_rejected == 3
        assert server.faults_injected == zero_faults()


async def test_non_sse_answers_a_stream_with_json(session):
    async with SimulatedServer(**INSTANT, non_sse_rate=1.0) as server:
        url = server.base_url + "/chat/completions"
        async with session.post(url, json=chat_body(max_tokens=5)) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = await resp.json()
        assert body["object"] == "chat.completion"
        assert body["usage"]["completion_tokens"] == 5
        # a non-streaming request is not affected (and not counted)
        async with session.post(url, json=chat_body(stream=False)) as resp:
            assert resp.status == 200 and (await resp.json())["object"] == "chat.completion"
        assert server.faults_injected == zero_faults(non_sse=1)
        assert server.requests_served == 2


# -- stream-level faults -----------------------------------------------------------------------


async def test_drop_mid_stream_breaks_the_stream_after_some_tokens(session):
    async with SimulatedServer(**INSTANT, drop_mid_stream_rate=1.0) as server:
        url = server.base_url + "/chat/completions"
        for max_tokens, expected in ((10, 5), (1, 1)):
            async with session.post(url, json=chat_body(max_tokens=max_tokens)) as resp:
                assert resp.status == 200
                events, error = await stream_until_break(resp)
            assert b"[DONE]" not in events
            # the role chunk, then half of the tokens (at least one); no finish chunk, no usage
            assert token_count(events) == expected
            assert len(events) == 1 + expected
            print(f"\ndrop_mid_stream: {type(error).__name__}: {error}")
        assert server.faults_injected == zero_faults(drop_mid_stream=2)
        assert server.requests_served == 0 and server.requests_cancelled == 0
        # the server is fine afterwards, and a non-streaming request is not affected
        async with session.post(url, json=chat_body(stream=False)) as resp:
            assert resp.status == 200 and "usage" in await resp.json()
        assert server.faults_injected["drop_mid_stream"] == 2


async def test_drop_mid_stream_on_completions_and_with_close_after_response():
    async with SimulatedServer(**INSTANT, drop_mid_stream_rate=1.0,
                               close_after_response=True) as server:
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(3):
                async with session.post(server.base_url + "/completions", json={
                        "model": "sim", "prompt": "abc", "max_tokens": 6,
                        "stream": True}) as resp:
                    events, _ = await stream_until_break(resp)
                assert [json.loads(e)["choices"][0]["text"] != "" for e in events] == [True] * 3
        assert server.faults_injected == zero_faults(drop_mid_stream=3)
        assert server.connections_dropped == 0


async def test_stop_during_a_stall_is_quick(session):
    server = SimulatedServer(**INSTANT, stall_mid_stream_rate=1.0, stall_seconds=30)
    await server.start()
    resp = await session.post(server.base_url + "/chat/completions", json=chat_body(4))
    for _ in range(3):  # role chunk, 2 tokens: now the stall
        await resp.content.readline()
        await resp.content.readline()
    started = time.perf_counter()
    await server.stop()
    assert time.perf_counter() - started < 2.0
    with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        await resp.read()
    resp.close()


async def test_stall_mid_stream_trips_a_read_timeout(session):
    async with SimulatedServer(**INSTANT, stall_mid_stream_rate=1.0, stall_seconds=2) as server:
        timeout = aiohttp.ClientTimeout(sock_read=0.3)
        events: list[bytes] = []
        started = time.perf_counter()
        async with session.post(server.base_url + "/chat/completions", json=chat_body(10),
                                timeout=timeout) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ServerTimeoutError):
                async for raw in resp.content:
                    if raw.strip():
                        events.append(raw.strip()[len(b"data: "):])
        elapsed = time.perf_counter() - started
        assert 0.3 <= elapsed < 1.5, elapsed
        assert token_count(events) == 5 and b"[DONE]" not in events
        assert server.faults_injected == zero_faults(stall_mid_stream=1)
        # the client's close cancels the stalled handler
        for _ in range(100):
            if server.requests_cancelled:
                break
            await asyncio.sleep(0.01)
        assert server.requests_cancelled == 1 and server.active == 0


async def test_stall_mid_stream_then_the_rest_follows(session):
    async with SimulatedServer(mode="fixed", ttft=0, itl=0.001, stall_mid_stream_rate=1.0,
                               stall_seconds=0.3) as server:
        times: list[float] = []
        events: list[bytes] = []
        async with session.post(server.base_url + "/chat/completions", json=chat_body(6)) as resp:
            async for raw in resp.content:
                if raw.strip():
                    times.append(time.perf_counter())
                    events.append(raw.strip()[len(b"data: "):])
        assert events[-1] == b"[DONE]"
        assert token_count(events) == 6
        gaps = [b - a for a, b in zip(times, times[1:])]
        # role, tokens 1-3, [silence], tokens 4-6, finish, usage, [DONE]
        assert max(gaps) >= 0.29 and gaps.index(max(gaps)) == 3, gaps
        assert server.requests_served == 1


async def test_malformed_json_event_mid_stream(session):
    async with SimulatedServer(**INSTANT, malformed_json_rate=1.0) as server:
        async with session.post(server.base_url + "/chat/completions", json=chat_body(8)) as resp:
            assert resp.status == 200
            events = await read_events(resp)
        bad = []
        for i, data in enumerate(events):
            if data == b"[DONE]":
                continue
            try:
                json.loads(data)
            except ValueError:
                bad.append(i)
        # role chunk + 4 tokens, then the bad event; the stream then goes on to the end
        assert bad == [5], events
        assert events[-1] == b"[DONE]"
        good = events[:5] + events[6:]
        assert token_count(good) == 8
        assert json.loads(events[-2])["usage"]["completion_tokens"] == 8
        assert server.faults_injected == zero_faults(malformed_json=1)
        assert server.requests_served == 1


async def test_no_usage_even_when_asked(session):
    async with SimulatedServer(**INSTANT, no_usage_rate=1.0) as server:
        url = server.base_url + "/chat/completions"
        async with session.post(url, json=chat_body(4, include_usage=True)) as resp:
            events = await read_events(resp)
        assert events[-1] == b"[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert all("usage" not in c for c in chunks)
        assert all(c["choices"] for c in chunks)  # no usage-only chunk
        assert token_count(events) == 4
        async with session.post(url, json=chat_body(stream=False)) as resp:
            body = await resp.json()
        assert "usage" not in body and body["choices"][0]["message"]["content"]
        # a stream that did not ask for usage is unchanged: not counted
        async with session.post(url, json=chat_body(4, include_usage=False)) as resp:
            assert (await read_events(resp))[-1] == b"[DONE]"
        assert server.faults_injected == zero_faults(no_usage=2)


async def test_slow_headers(session):
    async with SimulatedServer(**INSTANT, slow_headers_rate=1.0,
                               slow_headers_seconds=0.3) as server:
        url = server.base_url + "/chat/completions"
        started = time.perf_counter()
        async with session.post(url, json=chat_body(stream=False)) as resp:
            headers_at = time.perf_counter() - started
            assert resp.status == 200
            await resp.read()
        assert 0.3 <= headers_at < 1.0, headers_at
        with pytest.raises(aiohttp.ServerTimeoutError):
            async with session.post(url, json=chat_body(),
                                    timeout=aiohttp.ClientTimeout(sock_read=0.1)) as resp:
                await resp.read()
        assert server.faults_injected == zero_faults(slow_headers=2)


async def test_connection_refused_helper(session):
    url = SimulatedServer.closed_url()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    with pytest.raises(aiohttp.ClientConnectorError) as info:
        async with session.post(url + "/chat/completions", json=chat_body()):
            pass
    assert isinstance(info.value.os_error, ConnectionRefusedError)
    assert 0 < unused_port() < 65536


# -- rates, seeds, combinations ----------------------------------------------------------------


async def classify(session: aiohttp.ClientSession, url: str, body: dict) -> str:
    """What one request looked like to the client: a status, "dropped", "non_sse" (a JSON
    body where a stream was asked for), "truncated" or "ok"."""
    try:
        async with session.post(url, json=body) as resp:
            if resp.status != 200:
                await resp.read()
                return str(resp.status)
            if not body.get("stream"):
                await resp.read()
                return "ok"
            if "text/event-stream" not in resp.headers.get("Content-Type", ""):
                await resp.read()
                return "non_sse"
            events = await read_events(resp)
            return "ok" if events[-1] == b"[DONE]" else "truncated"
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
        return "dropped"


async def run_sequence(server: SimulatedServer, n: int, body: dict) -> list[str]:
    async with aiohttp.ClientSession() as session:
        url = server.base_url + "/chat/completions"
        return [await classify(session, url, body) for _ in range(n)]


async def test_rate_injects_about_that_share_and_counters_match():
    async with SimulatedServer(**INSTANT, error_500_rate=0.3, seed=7) as server:
        seen = await run_sequence(server, 200, chat_body(1, stream=False))
    failures = seen.count("500")
    print(f"\nerror_500_rate=0.3: {failures}/200")
    assert 40 <= failures <= 80  # binomial(200, 0.3): mean 60, sd 6.5
    assert seen.count("ok") == 200 - failures
    assert server.faults_injected == zero_faults(error_500=failures)
    assert server.requests_served == 200 - failures


async def test_same_seed_same_faults_other_seed_other_faults():
    options = dict(INSTANT, rate_limit_rate=0.2, error_503_rate=0.2, drop_mid_stream_rate=0.3)
    body = chat_body(4)

    async def sequence(seed: int) -> list[str]:
        async with SimulatedServer(**options, seed=seed) as server:
            return await run_sequence(server, 40, body)

    first = await sequence(3)
    assert first == await sequence(3)
    assert first != await sequence(4)
    assert {"ok", "429", "503", "dropped"} <= set(first)


async def test_combined_rates_counters_match_what_the_client_saw():
    async with SimulatedServer(**INSTANT, seed=11, rate_limit_rate=0.25,
                               drop_mid_stream_rate=0.4) as server:
        seen = await run_sequence(server, 120, chat_body(4))
        counts = server.faults_injected
    kinds = {kind: seen.count(kind) for kind in set(seen)}
    print(f"\nrate_limit_rate=0.25 + drop_mid_stream_rate=0.4 over 120: {kinds}")
    assert set(kinds) == {"ok", "429", "dropped"}
    # a 429 is the whole answer: a drop drawn for the same request is not applied
    assert counts == zero_faults(rate_limit=kinds["429"], drop_mid_stream=kinds["dropped"])
    assert 15 <= kinds["429"] <= 45  # mean 30
    assert 20 <= kinds["dropped"] <= 56  # 0.4 of the ~90 not rate-limited: mean 36
    assert server.requests_served == kinds["ok"]


async def test_all_faults_at_once_keep_the_server_healthy():
    async with SimulatedServer(**INSTANT, seed=5, unauthorized_rate=0.1, rate_limit_rate=0.1,
                               error_500_rate=0.1, error_503_rate=0.1, non_sse_rate=0.1,
                               slow_headers_rate=0.1, slow_headers_seconds=0.001,
                               malformed_json_rate=0.2, stall_mid_stream_rate=0.1,
                               stall_seconds=0.001, drop_mid_stream_rate=0.2,
                               no_usage_rate=0.2) as server:
        async with aiohttp.ClientSession() as session:
            url = server.base_url + "/chat/completions"
            seen = [await classify(session, url, chat_body(4)) for _ in range(60)]
        counts = server.faults_injected
        assert all(counts[name] > 0 for name in FAULTS), counts
        for status, name in (("401", "unauthorized"), ("429", "rate_limit"),
                             ("500", "error_500"), ("503", "error_503"),
                             ("non_sse", "non_sse"), ("dropped", "drop_mid_stream")):
            assert seen.count(status) == counts[name], (status, seen)
        # every other request ended its stream properly (malformed events, stalls and missing
        # usage still end with [DONE])
        assert seen.count("ok") == 60 - sum(seen.count(s) for s in
                                            ("401", "429", "500", "503", "non_sse", "dropped"))
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/simulator/stats") as resp:
                assert (await resp.json())["faults_injected"] == counts


# -- options, validation, CLI, process ---------------------------------------------------------


def test_constructor_takes_every_config_option():
    params = inspect.signature(SimulatedServer).parameters
    assert [f.name for f in fields(SimulatorConfig)] == list(params)
    for f in fields(SimulatorConfig):
        assert params[f.name].default == f.default, f.name


@pytest.mark.parametrize(("options", "fragment"), [
    ({"error_500_rate": 1.5}, r"error_500_rate must be a number in \[0, 1\] \(got 1.5\)"),
    ({"drop_mid_stream_rate": -0.1}, "drop_mid_stream_rate must be a number in"),
    ({"no_usage_rate": float("nan")}, "no_usage_rate must be a number in"),
    ({"stall_mid_stream_rate": "0.5"}, "stall_mid_stream_rate must be a number in"),
    ({"rate_limit_rate": True}, "rate_limit_rate must be a number in"),
    ({"error_500_rate": 0.6, "error_503_rate": 0.5}, "add up to 1.1.*must be <= 1"),
    ({"stall_seconds": -1}, "stall_seconds must be >= 0"),
    ({"retry_after": -0.5}, "retry_after must be >= 0"),
    ({"slow_headers_seconds": float("inf")}, "slow_headers_seconds must be a finite number"),
    ({"api_key": ""}, "api_key must be a non-empty string"),
    ({"api_key": "sk with space"}, "api_key must be a non-empty string without spaces"),
    ({"host": "0.0.0.0"}, r"allow_remote=True \(CLI: --allow-remote\)"),
    ({"host": "192.168.1.10"}, "allow_remote=True"),
    ({"allow_remote": "yes"}, "allow_remote must be True or False"),
])
def test_invalid_fault_options_raise_clear_value_errors(options, fragment):
    with pytest.raises(ValueError, match=fragment):
        SimulatedServer(**options)


def test_loopback_hosts_need_no_flag_others_do():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert SimulatorConfig(host=host).host == host
    assert SimulatorConfig(host="0.0.0.0", allow_remote=True).allow_remote
    assert SimulatorConfig(error_500_rate=0.5, error_503_rate=0.5).faults_enabled
    assert not SimulatorConfig(api_key="k").faults_enabled


def test_cli_faults_group_and_round_trip(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = parser.format_help()
    assert "\nfaults:\n" in text
    faults_section = text.split("\nfaults:\n", 1)[1]
    for flag in ("--api-key", "--retry-after", "--slow-headers-seconds", "--stall-seconds",
                 *("--" + name.replace("_", "-") + "-rate" for name in FAULTS)):
        assert flag in faults_section, flag
    assert "--allow-remote" in text
    cfg = SimulatorConfig(api_key="sk-x", rate_limit_rate=0.25, retry_after=0.5,
                          stall_mid_stream_rate=1.0, stall_seconds=2.0, no_usage_rate=0.1,
                          host="0.0.0.0", allow_remote=True)
    assert SimulatorConfig.from_namespace(parser.parse_args(cfg.to_argv())) == cfg
    assert SimulatorConfig.from_namespace(parser.parse_args([])) == SimulatorConfig()
    assert main(parser.parse_args(["--host", "0.0.0.0"])) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(parser.parse_args(["--error-500-rate", "2"])) == 2
    assert "error_500_rate must be a number in [0, 1]" in capsys.readouterr().err


async def test_spawned_process_applies_fault_flags(session):
    async with SimulatedServer.spawn(**INSTANT, rate_limit_rate=1.0, retry_after=3,
                                     api_key="sk-spawned") as proc:
        headers = {"Authorization": "Bearer sk-spawned"}
        async with session.post(proc.base_url + "/chat/completions", json=chat_body(),
                                headers=headers) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "3"
        async with session.post(proc.base_url + "/chat/completions", json=chat_body()) as resp:
            assert resp.status == 401  # no key
        stats = await asyncio.to_thread(proc.stats)
    assert stats["faults_injected"] == zero_faults(rate_limit=1)
    assert stats["requests_rejected"] == 1
