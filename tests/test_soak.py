"""A short soak: many clients against the simulator in its own process, low-memory mode.
(The long version, 1,000 clients for 60 s with memory and loop lag, is bench/bench_soak.py.)"""

from __future__ import annotations

import asyncio
import json

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer

from .waiting import eventually

CLIENTS, SECONDS = 300, 4.0


async def test_300_clients_for_a_few_seconds(tmp_path):
    with SimulatedServer.spawn(mode="fixed", ttft=0.3, itl=0.02) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=16),
                        output_path=tmp_path, low_memory=True)
        snapshots = []
        runner.listeners.append(snapshots.append)
        task = asyncio.create_task(runner.run(clients=CLIENTS, run_duration=SECONDS, run_name="soak"))
        await eventually(lambda: runner.running and runner.stats.in_flight == CLIENTS,
                         f"{CLIENTS} requests in flight")
        assert runner.active_clients == CLIENTS
        result = await task
        served = (await asyncio.to_thread(server.stats))["peak_active"]
    stats = result.stats
    assert served == CLIENTS  # the server had every client's request at once
    assert stats["failed_requests"] == 0 and stats["cancelled_requests"] == 0
    assert result.responses == []  # low-memory: nothing kept
    lines = [json.loads(line) for line in
             (tmp_path / "soak" / "responses.jsonl").read_text().splitlines()]
    assert len(lines) == stats["total_requests"] == len({line["id"] for line in lines})
    # closed loop: the clients were kept busy from the start to the deadline (each request
    # ~0.6 s), whatever the machine's speed; a client that stalled would leave a gap
    durations = [line["t_end"] - line["t_send"] for line in lines]
    assert min(durations) >= 0.3 + 15 * 0.02
    assert sum(durations) >= CLIENTS * SECONDS * 0.8
    assert Result.load(tmp_path / "soak", load_responses=False).stats["total_requests"] == len(lines)
    # the live views kept getting snapshots all along (every 0.25 s; allow a busy loop's delays)
    assert len(snapshots) >= SECONDS / 0.25 / 2
