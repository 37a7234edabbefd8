"""How long RunningStats.snapshot() takes with 1k, 10k and 100k responses recorded.

Run: .venv/bin/python bench/bench_snapshot.py
The live views call snapshot() up to 4 times a second on the event loop the clients share,
so it must stay well under 2 ms however long the run.

The last lines compare a snapshot with and without the table's "last 10 s" figures
(`window_stats`, sent while a dashboard shows them) at 100k responses spread over 100 s
(1,000 a second, 32 tokens each: every per-request metric fed, inter-token gaps included):
"cold" is the tick right after a second closed (the window's sketches merged and read),
"warm" the other ticks of that second (read once per second), "at 4 Hz" their mean.
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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fill_spread(rs: RunningStats, clock: Clock, n: int, rate: int = 1_000, tokens: int = 32) -> None:
    """n streamed responses, `rate` a second, each with every per-request metric."""
    rng = random.Random(2)
    for i in range(n):
        end = i / rate
        ttft = rng.lognormvariate(-2.0, 0.6)
        gap = rng.uniform(0.005, 0.03)
        send = end - ttft - gap * (tokens - 1)
        clock.now = end
        rs.record_send(send)
        rs.update(InvocationResponse(
            t_send=send, t_first_token=send + ttft, t_second_token=send + ttft + gap,
            t_first_content_token=send + ttft, t_last_token=end, t_end=end,
            inter_token_latencies=[gap] * (tokens - 1), num_tokens_output=tokens,
            num_tokens_input=20).finalize())
    clock.now = n / rate + 0.5


def time_window(n: int = 100_000, repeat: int = 200) -> dict[str, float]:
    """snapshot() at n responses without and with the window's figures, ms."""
    clock = Clock()
    rs = RunningStats(clock=clock)
    rs.request_keys(["time_to_first_token-p95"])
    rs.want_window_stats = True  # a view shows them: every metric recorded in the window
    fill_spread(rs, clock, n)
    warm = time_snapshot(rs, repeat)
    assert rs.window_stats()["covered"] == 10
    started = time.perf_counter()
    for _ in range(repeat):
        rs._window_cache = None  # as the first tick after a second closed
        rs.snapshot()
    cold = (time.perf_counter() - started) / repeat
    rs.want_window_stats = False
    without = time_snapshot(rs, repeat)
    return {"without": without * 1e3, "cold": cold * 1e3, "warm": warm * 1e3,
            "at_4hz": (cold + 3 * warm) / 4 * 1e3, "window_only": (cold - without) * 1e3}


def time_window_feed(n: int = 30_000) -> dict[bool, float]:
    """update() per streamed response (32 tokens), the window recording every metric or only
    the charts' TTFT and TTLT, µs."""
    out = {}
    for wanted in (False, True):
        clock = Clock()
        rs = RunningStats(clock=clock)
        rs.want_window_stats = wanted
        started = time.perf_counter()
        fill_spread(rs, clock, n)
        out[wanted] = (time.perf_counter() - started) / n * 1e6
    return out


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
    w = time_window()
    print(f"snapshot() at 100,000 responses (1,000/s over 100 s), exact: "
          f"without window_stats {w['without']:.3f} ms; with: cold {w['cold']:.3f} ms "
          f"(the window's merge and read {w['window_only']:.3f} ms, once a second), "
          f"warm {w['warm']:.3f} ms, at 4 Hz {w['at_4hz']:.3f} ms a tick")
    feed = time_window_feed()
    print(f"record_send() + update() per streamed response (32 tokens, with building it), exact: "
          f"{feed[False]:.1f} µs, {feed[True]:.1f} µs while the window records every metric "
          "(a view shows the table's last 10 s)")


if __name__ == "__main__":
    main()
