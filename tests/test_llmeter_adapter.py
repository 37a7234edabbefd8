"""A real llmeter Endpoint (blocking, its own HTTP client) driven by our Runner via the adapter."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import pytest
from llmeter.endpoints.base import Endpoint

from llmeter_widget import Runner
from llmeter_widget.endpoints import LlmeterEndpoint
from llmeter_widget.endpoints.llmeter_adapter import classify_error
from llmeter_widget.simulator import SimulatedServer

from .waiting import eventually


class BlockingChat(Endpoint):
    """An llmeter endpoint the way llmeter's docs say to write one: a blocking call."""

    def __init__(self, base_url: str) -> None:
        super().__init__(endpoint_name="blocking-sim", model_id="sim", provider="test")
        self.base_url = base_url

    @Endpoint.llmeter_invoke
    def invoke(self, payload: dict) -> dict:
        body = json.dumps({**payload, "model": "sim", "stream": False}).encode()
        request = urllib.request.Request(self.base_url + "/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # blocks this thread
            return json.load(answer)

    def process_raw_response(self, raw_response, start_t, response) -> None:
        response.time_to_last_token = time.perf_counter() - start_t
        response.response_text = raw_response["choices"][0]["message"]["content"]
        response.num_tokens_input = raw_response["usage"]["prompt_tokens"]
        response.num_tokens_output = raw_response["usage"]["completion_tokens"]


PAYLOAD = {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 16}


async def test_blocking_calls_run_concurrently_off_the_loop():
    async with SimulatedServer(mode="fixed", ttft=0.05, itl=0.01) as server:  # ~0.2 s a call
        ep = LlmeterEndpoint(BlockingChat(server.base_url))
        result = await Runner(ep, PAYLOAD).run(clients=8, n_requests=3)
        peak = server.peak_active
    stats = result.stats
    assert stats["total_requests"] == 24 and stats["failed_requests"] == 0
    # the 8 clients' blocking calls overlapped: the server had 8 at once, not one after another
    assert peak == 8
    # the loop was never blocked by a call (one would block it for ~0.2 s)
    assert stats["event_loop_lag_max"] < 0.15
    assert stats["time_to_last_token-p50"] >= 0.2
    assert stats["total_output_tokens"] == 24 * 16
    assert result.model_id == "sim" and result.endpoint_name == "blocking-sim"


async def test_errors_are_classified_and_stop_cancels_promptly():
    async with SimulatedServer(mode="fixed", ttft=0.01, itl=0.001, error_500_rate=1.0) as server:
        ep = LlmeterEndpoint(BlockingChat(server.base_url))
        failed = await Runner(ep, PAYLOAD, stop_when_misconfigured=False).run(clients=2, n_requests=2)
    assert failed.stats["errors-http_5xx"] == 4
    assert "500" in failed.responses[0].error

    async with SimulatedServer(mode="fixed", ttft=2.0, itl=0.01) as server:  # slow answers
        runner = Runner(LlmeterEndpoint(BlockingChat(server.base_url)), PAYLOAD)
        task = asyncio.create_task(runner.run(clients=3, run_duration=30))
        await eventually(lambda: runner.running and runner.stats.in_flight == 3, "3 calls in flight")
        stopped_at = time.perf_counter()
        runner.stop()
        result = await task
        stop_took = time.perf_counter() - stopped_at
    assert stop_took < 1.0  # the blocked threads (2 s answers) are not waited for
    assert result.status == "stopped" and result.stats["cancelled_requests"] == 3


@pytest.mark.parametrize("message, kind", [
    ("Read timed out. (read timeout=10)", "timeout"),
    ("An error occurred (ThrottlingException): Rate exceeded", "rate_limited"),
    ("HTTP Error 429: Too Many Requests", "rate_limited"),
    ("HTTP Error 503: Service Unavailable", "http_5xx"),
    ("HTTP Error 404: Not Found", "http_4xx"),
    ("Could not connect to the endpoint URL", "connect"),
    ("ValidationException: something odd", "other"),
])
def test_error_text_classification(message, kind):
    assert classify_error(message) == kind
