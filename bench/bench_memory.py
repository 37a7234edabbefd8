"""RSS growth of a long run in low-memory mode (and, for contrast, without it).

Run:  .venv/bin/python bench/bench_memory.py                      (200k requests low-memory +
                                                                    50k in-memory; ~6-10 min)
      nohup .venv/bin/python bench/bench_memory.py > bench/results/bench_memory.log 2>&1 &
      .venv/bin/python bench/bench_memory.py --total 50000 --full-total 20000   (quicker)
      .venv/bin/python bench/bench_memory.py --only low                          (one phase)

Each phase runs in a fresh Python process (this script re-runs itself with --phase), so one
phase's heap does not hide the other's growth. In each: the simulator in its own process (fixed
mode, ttft=1 ms, itl=0.5 ms, max_tokens=8: tiny latency, so the run is fast), and
Runner(OpenAIChatEndpoint, output_path=<temp dir>, live_view=False) with `clients` clients and
n_requests per client so that clients * n_requests = total. A background task samples this
process's RSS (psutil) every second, with the number of responses recorded so far.

- low:  low_memory=True, 200k requests (--total). Responses go to responses.jsonl only and the
        percentiles to DDSketches, so memory should stay flat.
        Reported: RSS at the first sample after --warmup responses (10k), RSS at the end of the
        run (last sample before run() returns), peak, growth = end - after warm-up, and the
        least-squares slope of RSS over the responses after warm-up (MB per 100k).
        Target (issue): growth <= 20 MB.
- full: low_memory=False, 50k requests (--full-total): every InvocationResponse is kept in
        result.responses and every value in exact percentile lists, so RSS grows with the count.

Writes bench/results/bench_memory.json (and the temp folders are deleted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from common import MB  # noqa: E402

TARGET_GROWTH_MB = 20.0


def slope_mb_per_100k(samples: list[tuple[float, int, int]]) -> float | None:
    """Least-squares slope of RSS (MB) against responses recorded, per 100k responses."""
    pts = [(n, rss / MB) for _, rss, n in samples]
    if len(pts) < 3 or pts[-1][0] == pts[0][0]:
        return None
    mx = sum(n for n, _ in pts) / len(pts)
    my = sum(r for _, r in pts) / len(pts)
    var = sum((n - mx) ** 2 for n, _ in pts)
    if var == 0:
        return None
    cov = sum((n - mx) * (r - my) for n, r in pts)
    return cov / var * 100_000


async def run_phase(phase: str, total: int, clients: int, warmup: int, max_tokens: int) -> dict:
    from llmeter_widget import Runner
    from llmeter_widget.endpoints import OpenAIChatEndpoint
    from llmeter_widget.simulator import SimulatedServer

    low_memory = phase == "low"
    n_requests = max(1, -(-total // clients))  # ceil: at least `total` requests in all
    payload = common.chat_payload(max_tokens)
    with SimulatedServer.spawn(mode="fixed", ttft=0.001, itl=0.0005) as proc, \
            tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        ep = OpenAIChatEndpoint(base_url=proc.base_url, model=common.MODEL)
        runner = Runner(ep, payload, output_path=tmp, low_memory=low_memory, live_view=False)

        def progress() -> int:
            stats = runner.stats
            return stats.total_requests if stats is not None else 0

        sampler = common.RSSSampler(interval=1.0, progress=progress)
        rss_before = sampler.sample()

        async def report() -> None:
            while True:
                await asyncio.sleep(15)
                _, rss, n = sampler.samples[-1]
                print(f"  [{phase}] {n:>9,} responses, RSS {rss / MB:7.1f} MB", flush=True)

        sampler.start()
        reporter = asyncio.create_task(report())
        started = time.perf_counter()
        result = await runner.run(clients=clients, n_requests=n_requests)
        elapsed = time.perf_counter() - started
        reporter.cancel()
        in_run = list(sampler.samples)  # samples taken while the run went on
        await sampler.stop()  # one more sample, after run() returned (result written)
        rss_after_return = sampler.samples[-1][1]
        stats = result.stats
        kept = len(result.responses)
        jsonl = os.path.getsize(os.path.join(result.output_path, "responses.jsonl"))

    done = stats["total_requests"]
    warm = next((s for s in in_run if s[2] >= warmup), None)
    end = in_run[-1]
    after_warm = [s for s in in_run if warm is not None and s[2] >= warm[2]]
    growth = (end[1] - warm[1]) / MB if warm else None
    out = {
        "phase": phase, "low_memory": low_memory, "clients": clients,
        "n_requests_per_client": n_requests, "total_requests": done,
        "failed_requests": stats["failed_requests"], "elapsed_s": elapsed,
        "req_per_s": done / elapsed if elapsed else None,
        "responses_kept_in_memory": kept, "responses_jsonl_mb": jsonl / MB,
        "warmup_responses": warm[2] if warm else None,
        "rss_start_mb": rss_before / MB,
        "rss_after_warmup_mb": warm[1] / MB if warm else None,
        "rss_end_mb": end[1] / MB, "rss_after_return_mb": rss_after_return / MB,
        "rss_peak_mb": max(s[1] for s in sampler.samples) / MB,
        "growth_mb": growth,
        "growth_bytes_per_response": (growth * MB / (end[2] - warm[2])
                                      if warm and end[2] > warm[2] else None),
        "slope_mb_per_100k": slope_mb_per_100k(after_warm),
        "samples": [(round(t, 1), round(rss / MB, 2), n) for t, rss, n in sampler.samples],
    }
    return out


def child_main(args: argparse.Namespace) -> None:
    total = args.total if args.phase == "low" else args.full_total
    out = asyncio.run(run_phase(args.phase, total, args.clients, args.warmup, args.max_tokens))
    with open(args.json_out, "w", encoding="utf-8") as f:
        json.dump(out, f)


def main(args: argparse.Namespace) -> None:
    phases = ["low", "full"] if args.only is None else [args.only]
    print(f"clients {args.clients}, low-memory total {args.total:,}, in-memory total "
          f"{args.full_total:,}, warm-up {args.warmup:,} responses, max_tokens "
          f"{args.max_tokens}, load avg {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, dict] = {}
    for phase in phases:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out_path = tmp.name
        cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--json-out",
               out_path, "--total", str(args.total), "--full-total", str(args.full_total),
               "--clients", str(args.clients), "--warmup", str(args.warmup),
               "--max-tokens", str(args.max_tokens)]
        print(f"phase {phase} ...", flush=True)
        subprocess.run(cmd, check=True)
        with open(out_path, encoding="utf-8") as f:
            results[phase] = json.load(f)
        os.unlink(out_path)
        r = results[phase]
        print(f"phase {phase}: {r['total_requests']:,} requests in {r['elapsed_s']:.0f} s "
              f"({r['req_per_s']:.0f} req/s), {r['failed_requests']} failed", flush=True)

    rows = []
    for r in results.values():
        rows.append([
            "low_memory=True" if r["low_memory"] else "low_memory=False", r["total_requests"],
            r["rss_start_mb"], r["rss_after_warmup_mb"], r["rss_end_mb"], r["rss_peak_mb"],
            r["growth_mb"], r["slope_mb_per_100k"], r["growth_bytes_per_response"],
        ])
    print()
    common.print_table(["mode", "requests", "RSS start MB", f"after {args.warmup // 1000}k MB",
                        "end MB", "peak MB", "growth MB", "MB/100k (fit)", "B/response"], rows)
    verdict = None
    if "low" in results and results["low"]["growth_mb"] is not None:
        g = results["low"]["growth_mb"]
        verdict = {"growth_mb": g, "target_mb": TARGET_GROWTH_MB, "met": g <= TARGET_GROWTH_MB}
        print(f"\nlow-memory growth after warm-up: {g:.1f} MB over "
              f"{results['low']['total_requests'] - results['low']['warmup_responses']:,} "
              f"responses (target <= {TARGET_GROWTH_MB:g} MB: {'met' if verdict['met'] else 'MISSED'})")
    common.write_results("bench_memory", {
        "settings": {"clients": args.clients, "total": args.total, "full_total": args.full_total,
                     "warmup": args.warmup, "max_tokens": args.max_tokens,
                     "simulator": {"mode": "fixed", "ttft": 0.001, "itl": 0.0005}},
        "target": verdict, "phases": results,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--total", type=int, default=200_000, help="low-memory run: total requests")
    p.add_argument("--full-total", type=int, default=50_000,
                   help="contrast run with low_memory=False: total requests")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--warmup", type=int, default=10_000,
                   help="responses before the 'after warm-up' RSS reading")
    p.add_argument("--max-tokens", type=int, default=8)
    p.add_argument("--only", choices=["low", "full"], help="run one phase only")
    p.add_argument("--phase", choices=["low", "full"], help=argparse.SUPPRESS)
    p.add_argument("--json-out", help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    parsed = parse_args()
    started = time.perf_counter()
    if parsed.phase:
        child_main(parsed)
    else:
        main(parsed)
        print(f"total {time.perf_counter() - started:.0f} s")
