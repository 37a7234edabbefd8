"""How long RunningStats.snapshot() takes with 1k, 10k and 100k responses recorded.

Run: .venv/bin/python bench/bench_snapshot.py
The live views call snapshot() up to 4 times a second on the event loop the clients share,
so it must stay well under 2 ms however long the run.
"""

from __future__ import annotations

import random
import time

from llmeter_widget.endpoints.base import InvocationResponse
from llmeter_widget.stats import RunningStats


def fill(rs: RunningStats, n: int) -> None:
    rng = random.Random(1)
    for _ in range(n):
        ttft = rng.uniform(0.05, 0.5)
        r = InvocationResponse(t_send=0.0, t_first_token=ttft, t_last_token=ttft + 1.0,
                               t_end=ttft + 1.0, num_tokens_output=rng.randint(2, 300),
                               num_tokens_input=20)
        rs.record_send(0.0)
        rs.update(r.finalize())


def time_snapshot(rs: RunningStats, repeat: int = 200) -> float:
    rs.snapshot()
    started = time.perf_counter()
    for _ in range(repeat):
        rs.snapshot()
    return (time.perf_counter() - started) / repeat


def time_update(low_memory: bool, n: int = 20_000) -> float:
    rs = RunningStats(low_memory=low_memory)
    started = time.perf_counter()
    fill(rs, n)
    return (time.perf_counter() - started) / n


def main() -> None:
    print(f"{'responses':>10} {'mode':>10} {'snapshot ms':>12}")
    for n in (1_000, 10_000, 100_000):
        for low_memory in (False, True):
            rs = RunningStats(low_memory=low_memory)
            fill(rs, n)
            mode = "sketch" if low_memory else "exact"
            print(f"{n:>10,} {mode:>10} {time_snapshot(rs) * 1000:>12.3f}")
    for low_memory in (False, True):
        mode = "sketch" if low_memory else "exact"
        print(f"update() per response, {mode}: {time_update(low_memory) * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
