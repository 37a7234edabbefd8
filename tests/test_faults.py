"""The fault matrix: every fault the simulator injects is classified, survived and saved.

Real simulator, real client; each test injects one fault (or several at once) and checks what
the runner recorded: the error class on each response, the `errors-{class}` counts, the HTTP
status, what was measured before a failure, and that the run went on.
"""

from __future__ import annotations

import json

import pytest

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.runner import MisconfiguredEndpoint
from llmeter_widget.simulator import SimulatedServer

FAST = {"mode": "fixed", "ttft": 0.02, "itl": 0.005, "seed": 3}


def payload(max_tokens=8):
    return OpenAIChatEndpoint.create_payload("Tell me a story", max_tokens=max_tokens)


async def run_against(tmp_path, endpoint_kwargs=None, clients=4, n_requests=3, **faults):
    async with SimulatedServer(**FAST, **faults) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim", **(endpoint_kwargs or {}))
        runner = Runner(ep, payload(), output_path=tmp_path, stop_when_misconfigured=False)
        result = await runner.run(clients=clients, n_requests=n_requests, run_name="faults")
        return result, server.faults_injected


@pytest.mark.parametrize(
    "fault, error_type, status, ttft_kept",
    [
        ({"unauthorized_rate": 1.0}, "http_4xx", 401, False),
        ({"rate_limit_rate": 1.0}, "rate_limited", 429, False),
        ({"error_500_rate": 1.0}, "http_5xx", 500, False),
        ({"error_503_rate": 1.0}, "http_5xx", 503, False),
        ({"non_sse_rate": 1.0}, "protocol", 200, False),
        ({"malformed_json_rate": 1.0}, "protocol", 200, True),
        ({"drop_mid_stream_rate": 1.0}, "broken_stream", 200, True),
        ({"stall_mid_stream_rate": 1.0, "stall_seconds": 2.0}, "timeout", 200, True),
        ({"slow_headers_rate": 1.0, "slow_headers_seconds": 2.0}, "timeout", None, False),
    ],
    ids=["401", "429", "500", "503", "non-sse", "malformed-json", "drop", "stall", "slow-headers"],
)
async def test_each_fault_is_classified_and_survived(tmp_path, fault, error_type, status, ttft_kept):
    result, _ = await run_against(tmp_path, {"read_timeout": 0.3}, **fault)
    stats = result.stats
    assert result.status == "completed"  # the run went on through every failure
    assert stats["total_requests"] == 12 and stats["failed_requests"] == 12
    assert stats[f"errors-{error_type}"] == 12
    for r in result.responses:
        assert r.error_type == error_type and r.error
        assert r.http_status == status
        assert (r.time_to_first_token is not None) == ttft_kept
        assert r.time_to_last_token is None
    saved = [json.loads(line) for line in (tmp_path / "faults" / "responses.jsonl").read_text().splitlines()]
    assert {line["error_type"] for line in saved} == {error_type}
    assert Result.load(tmp_path / "faults").stats[f"errors-{error_type}"] == 12


async def test_messages_are_short_and_readable(tmp_path):
    result, _ = await run_against(tmp_path, n_requests=1, clients=1, error_503_rate=1.0)
    message = result.responses[0].error
    assert message.startswith("HTTP 503") and len(message) <= 300 and "\n" not in message


async def test_no_usage_falls_back_to_counting(tmp_path):
    result, _ = await run_against(tmp_path, no_usage_rate=1.0)
    assert result.stats["failed_requests"] == 0
    assert {r.token_source for r in result.responses} == {"counted"}
    assert {r.num_tokens_output for r in result.responses} == {8}


async def test_slow_headers_within_the_timeout_are_measured_not_failed(tmp_path):
    result, _ = await run_against(tmp_path, slow_headers_rate=1.0, slow_headers_seconds=0.2)
    assert result.stats["failed_requests"] == 0
    assert result.stats["time_to_first_token-p50"] >= 0.2 + FAST["ttft"]


async def test_retrying_429_when_asked_hides_no_failure(tmp_path):
    result, injected = await run_against(
        tmp_path, {"retry_rate_limited": 5, "max_retry_wait": 0.05}, clients=4, n_requests=5,
        rate_limit_rate=0.4, retry_after=1.0)
    assert injected["rate_limit"] > 0
    # every 429 was retried (after at most max_retry_wait) and counted, none hidden
    assert result.stats["rate_limit_retries"] == injected["rate_limit"] - result.stats.get(
        "errors-rate_limited", 0)
    assert sum(r.retries or 0 for r in result.responses) == result.stats["rate_limit_retries"]


async def test_mixed_faults_counts_match_what_the_server_injected(tmp_path):
    result, injected = await run_against(
        tmp_path, clients=8, n_requests=25,
        error_500_rate=0.1, error_503_rate=0.05, rate_limit_rate=0.1, non_sse_rate=0.05,
        drop_mid_stream_rate=0.15, no_usage_rate=0.2)
    stats = result.stats
    assert result.status == "completed" and stats["total_requests"] == 200
    assert stats.get("errors-http_5xx", 0) == injected["error_500"] + injected["error_503"]
    assert stats.get("errors-rate_limited", 0) == injected["rate_limit"]
    assert stats.get("errors-protocol", 0) == injected["non_sse"]
    assert stats.get("errors-broken_stream", 0) == injected["drop_mid_stream"]
    assert stats["failed_requests"] == sum(
        injected[k] for k in ("error_500", "error_503", "rate_limit", "non_sse", "drop_mid_stream"))
    assert 0 < stats["failed_requests"] < 200
    counted = sum(1 for r in result.responses if r.ok and r.token_source == "counted")
    assert counted > 0  # no_usage answers were measured by counting, not failed


async def test_every_request_unauthorized_stops_with_the_api_key_hint(tmp_path):
    async with SimulatedServer(**FAST, api_key="sk-right") as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim", api_key="sk-wrong")
        runner = Runner(ep, payload(), output_path=tmp_path)
        with pytest.raises(MisconfiguredEndpoint, match="HTTP 401.*Check the API key"):
            await runner.run(clients=2, run_duration=30)
        good = OpenAIChatEndpoint(base_url=server.base_url, model="sim", api_key="sk-right")
        result = await Runner(good, payload()).run(clients=2, n_requests=2)
    assert result.stats["failed_requests"] == 0
