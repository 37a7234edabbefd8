"""Soak: 1,000 concurrent clients against the simulator (its own process) for 60 s, low memory.

Run: .venv/bin/python bench/bench_soak.py [--clients 1000] [--duration 60] [--workers 0 2]

With several --workers values, one soak per value, one after the other in one invocation (the
same server settings); the table puts them side by side. Kernel CPU per response is this
process's own CPU time (not its workers') over the run, divided by the responses it merged:
what a notebook kernel pays to merge and show a run.

Checks what a long, wide run needs: no client-side failures, flat memory in low-memory mode,
and an event loop responsive enough for the dashboard to keep updating (the runner measures
how late its loop wakes a 50 ms timer; a live view gets a snapshot every 0.25 s). The server
answers like a slow real model (ttft 0.5 s, itl 50 ms, 32 tokens: ~2 s a request), so 1,000
clients ask for ~500 requests/s: within what this 2-core machine serves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

from llmeter_widget import Runner  # noqa: E402
from llmeter_widget.endpoints import OpenAIChatEndpoint  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402


async def soak(args: argparse.Namespace, workers: int) -> dict:
    with SimulatedServer.spawn(mode="fixed", ttft=args.ttft, itl=args.itl) as server, \
            tempfile.TemporaryDirectory() as tmp:
        ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
        runner = Runner(ep, OpenAIChatEndpoint.create_payload("Tell me a story",
                                                              max_tokens=args.max_tokens),
                        output_path=tmp, low_memory=True, live_view=False, workers=workers)
        ticks: list[tuple[float, float, int]] = []  # (time, loop lag, completed)
        runner.listeners.append(lambda s: ticks.append(
            (time.perf_counter(), s["loop_lag"], s["stats"]["total_requests"])))
        rss = common.RSSSampler(interval=1.0, progress=lambda: len(ticks) and ticks[-1][2])
        rss.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = await runner.run(clients=args.clients, run_duration=args.duration)
        elapsed, kernel_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await rss.stop()
    stats = result.stats
    lags = [lag for _, lag, _ in ticks]
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:])]
    warm = [r for t, r, _ in rss.samples if t >= args.warmup]
    return {
        "workers": workers, "clients": args.clients, "duration": args.duration, "elapsed_s": elapsed,
        "kernel_cpu_us_per_response": 1e6 * kernel_cpu / max(1, stats["total_requests"]),
        "total_requests": stats["total_requests"], "failed_requests": stats["failed_requests"],
        "errors": {k: v for k, v in stats.items() if k.startswith("errors-")},
        "requests_per_s": stats["total_requests"] / elapsed,
        "ttft_p50_s": stats["time_to_first_token-p50"], "ttft_p99_s": stats["time_to_first_token-p99"],
        "loop_lag_p50_ms": 1000 * statistics.median(lags), "loop_lag_max_ms": 1000 * max(lags),
        "loop_lag_p99_ms": 1000 * common.percentile(lags, 99),
        "snapshots": len(ticks), "snapshot_gap_max_s": max(gaps),
        "rss_after_warmup_mb": warm[0] / 2**20, "rss_end_mb": warm[-1] / 2**20,
        "rss_growth_mb": (warm[-1] - warm[0]) / 2**20,
        "server": {"ttft": args.ttft, "itl": args.itl, "max_tokens": args.max_tokens},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before RSS is compared")
    p.add_argument("--ttft", type=float, default=0.5)
    p.add_argument("--itl", type=float, default=0.05)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[0],
                   help="worker processes (Runner(workers=N)); several: one soak each")
    args = p.parse_args()
    runs = [asyncio.run(soak(args, workers)) for workers in args.workers]
    common.print_table(
        ["workers", "clients", "s", "requests", "failed", "req/s", "TTFT p50 s",
         "loop lag p50/p99/max ms", "snapshots (max gap s)", "kernel CPU us/resp",
         "RSS after warm-up → end MB"],
        [[out["workers"], out["clients"], round(out["elapsed_s"], 1), out["total_requests"],
          out["failed_requests"], round(out["requests_per_s"], 1), round(out["ttft_p50_s"], 3),
          f"{out['loop_lag_p50_ms']:.0f}/{out['loop_lag_p99_ms']:.0f}/{out['loop_lag_max_ms']:.0f}",
          f"{out['snapshots']} ({out['snapshot_gap_max_s']:.2f})",
          round(out["kernel_cpu_us_per_response"]),
          f"{out['rss_after_warmup_mb']:.1f} → {out['rss_end_mb']:.1f}"] for out in runs])
    common.write_results("bench_soak", runs[0] if len(runs) == 1 else {"runs": runs})


if __name__ == "__main__":
    main()
