"""Per-request token timings: every inter-token gap, time to second token, and time to first
reasoning token beside time to first content token (issue 11).

Against a small real server whose events come at known times (reasoning, then content, one read
carrying two events), and against the simulator, also as a reasoning model."""

from __future__ import annotations

import argparse
import asyncio
import json
from statistics import median

import pytest
from aiohttp import web

from llmeter_widget.endpoints import OpenAIChatEndpoint, OpenAICompletionEndpoint
from llmeter_widget.endpoints.base import InvocationResponse
from llmeter_widget.simulator import SimulatedServer, SimulatorConfig
from llmeter_widget.simulator.cli import add_arguments, main

from .conftest import ITL, TTFT
from .test_endpoints import _sse, serve

GAP = 0.03  # the paced server's sleep between output events
# How much later than GAP a gap may read on a busy 2-core machine (medians of a few requests);
# below 2 * GAP, what a gap measured from the first token instead of the previous one reads.
LATE = 0.025
# A gap may read a little short when the event before it was stamped late.
EARLY = 0.005


def _delta(**fields) -> bytes:
    return _sse({"choices": [{"index": 0, "delta": fields}]})


async def _paced_reasoning_chat(request: web.Request) -> web.StreamResponse:
    """Role chunk; reasoning "a", "b"; content "c"; then content "d" and "e" in one write."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_delta(role="assistant", content=""))  # no output: not a token
    await asyncio.sleep(GAP)
    await resp.write(_delta(reasoning_content="a"))
    await asyncio.sleep(GAP)
    await resp.write(_delta(reasoning_content="b"))
    await asyncio.sleep(GAP)
    await resp.write(_delta(content="c"))
    await asyncio.sleep(GAP)
    await resp.write(_delta(content="d") + _delta(content="e"))  # one write, one read
    await asyncio.sleep(GAP)
    await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 5,
                                     "completion_tokens_details": {"reasoning_tokens": 2}}}))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def _one_token_chat(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(_delta(role="assistant", content=""))
    await resp.write(_delta(content="only"))
    await resp.write(_sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}))
    await resp.write(b"data: [DONE]\n\n")
    return resp


@pytest.fixture
async def paced_server():
    async with serve({"/paced/v1/chat/completions": _paced_reasoning_chat,
                      "/one/v1/chat/completions": _one_token_chat}) as url:
        yield url


async def test_every_gap_second_token_and_first_of_each_kind(paced_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=paced_server + "/paced/v1", model="m")
    runs = [await ep.invoke(session, chat_payload) for _ in range(3)]
    assert all(r.ok for r in runs), [r.error for r in runs]
    for r in runs:
        assert r.response_text == "abcde"
        assert r.num_tokens_output_reasoning == 2
        # 5 output events (the role and finish chunks carry none): 4 gaps, in order
        gaps = r.inter_token_latencies
        assert len(gaps) == 4
        # "d" and "e" came in one read: one stamp, a gap of exactly 0
        assert gaps[3] == 0.0
        # the gaps add up to first token -> last token
        assert sum(gaps) == pytest.approx(r.t_last_token - r.t_first_token, abs=2e-6)
        # first of any kind = the first reasoning token; content came two gaps later
        assert r.time_to_first_token == r.time_to_first_reasoning_token
        assert r.time_to_first_reasoning_token < r.time_to_first_content_token
        assert r.time_to_first_content_token == pytest.approx(
            r.time_to_first_token + gaps[0] + gaps[1], abs=2e-6)
        # the second output event, "b": between the first and the last, one gap after the first
        assert r.time_to_first_token < r.time_to_second_token < r.time_to_last_token
        assert r.time_to_second_token == pytest.approx(r.time_to_first_token + gaps[0], abs=2e-6)
        assert r.time_to_second_token == r.t_second_token - r.t_send
    # each paced gap, the median of 3 requests: about GAP (the server held each event that long)
    for i in range(3):
        assert GAP - EARLY <= median(r.inter_token_latencies[i] for r in runs) < GAP + LATE, i
    assert median(r.time_to_first_content_token - r.time_to_first_reasoning_token
                  for r in runs) >= 2 * GAP - EARLY


async def test_one_token_stream_has_no_gaps_and_no_second_token(paced_server, session,
                                                                  chat_payload):
    ep = OpenAIChatEndpoint(base_url=paced_server + "/one/v1", model="m")
    r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.inter_token_latencies is None
    assert r.t_second_token is None and r.time_to_second_token is None
    assert r.time_to_first_content_token == r.time_to_first_token is not None
    assert r.time_to_first_reasoning_token is None


async def test_content_only_stream(fixed_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=fixed_server.base_url, model="sim")
    r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.time_to_first_reasoning_token is None and r.t_first_reasoning_token is None
    assert r.time_to_first_content_token == r.time_to_first_token is not None
    # 16 tokens: 15 gaps of about ITL (the simulator holds each token until its time)
    assert len(r.inter_token_latencies) == 15
    assert ITL - EARLY <= median(r.inter_token_latencies) < ITL + LATE
    assert r.time_to_first_token < r.time_to_second_token < r.time_to_last_token


async def test_completions_are_content_only(fixed_server, session):
    ep = OpenAICompletionEndpoint(base_url=fixed_server.base_url, model="sim")
    r = await ep.invoke(session, OpenAICompletionEndpoint.create_payload("Once", max_tokens=5))
    assert r.ok, r.error
    assert r.time_to_first_content_token == r.time_to_first_token is not None
    assert r.time_to_first_reasoning_token is None
    assert len(r.inter_token_latencies) == 4 and r.time_to_second_token is not None


async def test_non_streaming_answer_arrives_at_once(session, chat_payload):
    async with SimulatedServer(mode="fixed", ttft=0.01, itl=0.001, reasoning_tokens=3) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim", stream=False)
        r = await ep.invoke(session, chat_payload)
    assert r.ok, r.error
    assert r.num_tokens_output == 16 and r.num_tokens_output_reasoning == 3
    # both kinds of text, in one body: both firsts are its arrival
    assert r.time_to_first_reasoning_token == r.time_to_first_content_token \
        == r.time_to_first_token == r.time_to_last_token
    assert r.inter_token_latencies is None and r.time_to_second_token is None


# -- saved and read back -----------------------------------------------------------------------------
async def test_round_trip_rounds_gaps_to_the_microsecond(paced_server, session, chat_payload):
    ep = OpenAIChatEndpoint(base_url=paced_server + "/paced/v1", model="m")
    r = await ep.invoke(session, chat_payload)
    line = r.to_json()
    saved = json.loads(line)
    assert saved["inter_token_latencies"] == [round(g, 6) for g in r.inter_token_latencies]
    back = InvocationResponse.from_json(line)
    assert back.inter_token_latencies == saved["inter_token_latencies"]
    assert back.inter_token_latencies == pytest.approx(r.inter_token_latencies, abs=5e-7)
    for name in ("t_second_token", "t_first_reasoning_token", "t_first_content_token",
                 "time_to_second_token", "time_to_first_reasoning_token",
                 "time_to_first_content_token"):
        assert getattr(back, name) == getattr(r, name) is not None, name
    assert back.annotations == r.annotations  # none of the new keys fell into annotations
    assert back.to_json() == line  # a second trip changes nothing
    assert back == r  # the record in memory is the one saved: finalize() rounded the gaps


def test_gaps_are_rounded_to_the_microsecond_once_per_response():
    raw = [0.0300004999, 0.1234567, 0.0]
    r = InvocationResponse(inter_token_latencies=list(raw)).finalize()
    assert r.inter_token_latencies == [0.03, 0.123457, 0.0]
    # the saved line is the record in memory (finalize rounded it; saving does not again)
    assert json.loads(r.to_json())["inter_token_latencies"] == [0.03, 0.123457, 0.0]


def test_cancelled_response_keeps_the_cancelled_record_rules():
    r = InvocationResponse(
        t_send=10.0, t_first_token=10.5, t_first_reasoning_token=10.5, t_second_token=10.75,
        t_last_token=10.75, t_end=11.0, inter_token_latencies=[0.25],
        error_type="cancelled", error="cancelled while in flight",
    ).finalize()
    assert (r.time_to_first_token, r.time_to_second_token, r.time_to_first_reasoning_token) == (
        0.5, 0.75, 0.5)
    saved = r.to_dict()
    # derived timings are left out (the raw stamps give them back), measured ones are kept
    for name in ("time_to_first_token", "time_to_second_token",
                 "time_to_first_reasoning_token", "time_to_first_content_token"):
        assert saved[name] is None, name
    assert (saved["t_second_token"], saved["t_first_reasoning_token"]) == (10.75, 10.5)
    assert saved["inter_token_latencies"] == [0.25]
    back = InvocationResponse.from_json(json.dumps(saved))
    assert (back.time_to_first_token, back.time_to_second_token,
            back.time_to_first_reasoning_token, back.time_to_first_content_token) == (
        0.5, 0.75, 0.5, None)
    assert back == r


@pytest.mark.parametrize("name, value, fragment", [
    ("inter_token_latencies", "x", "holds str 'x'"),
    ("inter_token_latencies", 0.5, "holds float 0.5"),
    ("inter_token_latencies", ["x"], "holds str 'x' at index 0"),
    ("inter_token_latencies", [0.1, True], "holds bool True at index 1"),
    ("t_second_token", "soon", "holds str"),
    ("time_to_first_reasoning_token", [1.0], "holds list"),
])
def test_bad_types_in_a_saved_line_name_the_field(name, value, fragment):
    with pytest.raises(ValueError, match=f"field '{name}' {fragment}"):
        InvocationResponse.from_json(json.dumps({"t_send": 1.0, name: value}))
    # whole numbers are numbers
    assert InvocationResponse.from_dict({"inter_token_latencies": [0, 1.5]}).inter_token_latencies \
        == [0, 1.5]


# -- the simulator as a reasoning model ----------------------------------------------------------------
async def test_simulated_reasoning_model(session):
    payload = OpenAIChatEndpoint.create_payload("Think first", max_tokens=8)
    async with SimulatedServer(mode="fixed", ttft=TTFT, itl=ITL, reasoning_tokens=3) as server:
        # what the server sends: 3 reasoning deltas, then the content ones
        async with session.post(server.base_url + "/chat/completions",
                                json={**payload, "model": "sim", "stream": True,
                                      "stream_options": {"include_usage": True}}) as http:
            body = (await http.read()).decode()
        r = await OpenAIChatEndpoint(base_url=server.base_url, model="sim").invoke(session, payload)
    events = [json.loads(line[6:]) for line in body.split("\n\n")
              if line.startswith("data: {")]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    kinds = [("reasoning" if "reasoning_content" in d else "content") for d in deltas
             if d.get("reasoning_content") or d.get("content")]
    assert kinds == ["reasoning"] * 3 + ["content"] * 5
    assert events[-1]["usage"]["completion_tokens"] == 8
    assert events[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 3}

    assert r.ok, r.error
    assert (r.num_tokens_output, r.num_tokens_output_reasoning) == (8, 3)
    assert len(r.response_text.split()) == 8 and len(r.inter_token_latencies) == 7
    assert r.time_to_first_token == r.time_to_first_reasoning_token
    assert r.time_to_first_reasoning_token < r.time_to_first_content_token
    # the first content token is the 4th token: the server holds it until TTFT + 3 ITL
    assert r.time_to_first_content_token >= TTFT + 3 * ITL
    assert r.time_to_second_token < r.time_to_first_content_token  # a reasoning token


async def test_simulator_without_reasoning_sends_no_reasoning_field(fast_sim, session):
    for stream in (True, False):
        async with session.post(fast_sim.base_url + "/chat/completions",
                                json={"model": "sim", "messages": [{"role": "user",
                                                                    "content": "hi"}],
                                      "max_tokens": 4, "stream": stream,
                                      "stream_options": {"include_usage": True}}) as http:
            body = await http.text()
        assert "reasoning" not in body and "completion_tokens_details" not in body


@pytest.fixture
async def fast_sim():
    async with SimulatedServer(mode="fixed", ttft=0, itl=0) as server:
        yield server


async def test_reasoning_longer_than_the_answer_is_all_reasoning(session):
    async with SimulatedServer(mode="fixed", ttft=0, itl=0, reasoning_tokens=10) as server:
        payload = OpenAIChatEndpoint.create_payload("Think", max_tokens=4)
        r = await OpenAIChatEndpoint(base_url=server.base_url, model="sim").invoke(session, payload)
        c = await OpenAICompletionEndpoint(base_url=server.base_url, model="sim").invoke(
            session, OpenAICompletionEndpoint.create_payload("Think", max_tokens=4))
    assert r.ok and r.finish_reason == "length"
    assert (r.num_tokens_output, r.num_tokens_output_reasoning) == (4, 4)
    assert r.time_to_first_content_token is None and r.time_to_first_reasoning_token is not None
    # the text API has no reasoning field: its answers are unchanged
    assert c.ok and c.num_tokens_output_reasoning is None
    assert c.time_to_first_reasoning_token is None and c.time_to_first_content_token is not None


def test_reasoning_tokens_option_is_checked_and_reaches_the_cli(capsys):
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="reasoning_tokens must be"):
            SimulatorConfig(reasoning_tokens=bad)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg = SimulatorConfig.from_namespace(parser.parse_args(["--reasoning-tokens", "5"]))
    assert cfg.reasoning_tokens == 5
    # spawn() passes options as argv: the option survives the trip
    assert "--reasoning-tokens" in cfg.to_argv()
    assert SimulatorConfig.from_namespace(parser.parse_args(cfg.to_argv())) == cfg
    assert main(parser.parse_args(["--reasoning-tokens", "-2"])) == 2
    assert "reasoning_tokens must be >= 0" in capsys.readouterr().err


async def test_spawned_simulator_reasons(session):
    proc = SimulatedServer.spawn(mode="fixed", ttft=0, itl=0.01, reasoning_tokens=2)
    try:
        payload = OpenAIChatEndpoint.create_payload("Think", max_tokens=5)
        r = await OpenAIChatEndpoint(base_url=proc.base_url, model="sim").invoke(session, payload)
    finally:
        await asyncio.to_thread(proc.stop)
    assert r.ok, r.error
    assert (r.num_tokens_output, r.num_tokens_output_reasoning) == (5, 2)
    assert r.time_to_first_reasoning_token < r.time_to_first_content_token


def test_a_saved_line_is_json_whatever_the_payload_holds():
    """to_json uses orjson, and the standard library for what orjson refuses."""
    r = InvocationResponse(response_text="héllo \u2028", input_payload={"seed": 2**70, 3: "x"},
                           t_send=1.5, inter_token_latencies=[0.001]).finalize()
    back = json.loads(r.to_json())
    assert back["input_payload"]["seed"] == 2**70 and back["response_text"] == "héllo \u2028"
    plain = InvocationResponse(response_text="é", input_payload={"n": 1}, t_send=1.5)
    assert json.loads(plain.to_json())["response_text"] == "é"
    assert InvocationResponse.from_json(plain.to_json()) == plain
