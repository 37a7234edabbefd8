"""A short soak: many clients against the simulator in its own process, low-memory mode.
(The long version, 1,000 clients for 60 s with memory and loop lag, is bench/bench_soak.py.)"""

from __future__ import annotations

import asyncio

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer


async def test_300_clients_for_a_few_seconds(tmp_path):
    with SimulatedServer.spawn(mode="fixed", ttft=0.3, itl=0.02) as server:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        runner = Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=16),
                        output_path=tmp_path, low_memory=True)
        snapshots = []
        runner.listeners.append(snapshots.append)
        task = asyncio.create_task(runner.run(clients=300, run_duration=4, run_name="soak"))
        await asyncio.sleep(2.5)
        active_mid_run = runner.active_clients
        result = await task
    stats = result.stats
    assert active_mid_run == 300
    assert stats["failed_requests"] == 0 and stats["cancelled_requests"] == 0
    assert stats["total_requests"] >= 300 * 3  # each request ~0.6 s: ~6 rounds in 4 s
    assert result.responses == []  # low-memory: nothing kept
    lines = (tmp_path / "soak" / "responses.jsonl").read_text().splitlines()
    assert len(lines) == stats["total_requests"]
    assert Result.load(tmp_path / "soak", load_responses=False).stats["total_requests"] == len(lines)
    # the live views kept getting snapshots all along (~4 a second)
    assert len(snapshots) >= 4 * 4 - 2
