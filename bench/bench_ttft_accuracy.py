"""TTFT accuracy: what our Runner measures against a server whose true TTFT is known exactly.

Run:  .venv/bin/python bench/bench_ttft_accuracy.py             (defaults: 1, 64, 256 clients;
                                                                  ~3-4 min)
      .venv/bin/python bench/bench_ttft_accuracy.py --clients 1 64 --rounds 3 --no-llmeter

Setup: the simulator in its own process, fixed mode, ttft=0.05 s, itl=0.01 s, max_tokens=16
(each request ~0.2 s). The truth is 0.05 s from the server receiving the request to it writing
the first content chunk. Tools, interleaved per round (the order rotates):

- bare: the bare aiohttp loop (common.bare_loop) stamping TTFT when the first SSE event that
  carries delta.content text arrives (not the role-only chunk), with perf_counter taken before
  the POST: the best a Python asyncio client can do, and what we are held against (even it reads
  a few ms above the truth: wake-ups, writing the request, the connect of a client's first
  request).
- ours: Runner(OpenAIChatEndpoint) in memory; TTFT from result.responses.
- llmeter 0.2.0 (if installed; --no-llmeter to skip): its streaming OpenAI endpoint, one thread
  per client (synchronous openai client): TTFT from its responses.

Requests sent in the first second of each trial (--warmup) are left out: that is when every
client opens its TCP connection, all at once, and with 64-256 clients and short trials those
first requests would be ~5% of the samples, i.e. they would *be* the p99. (The JSON keeps the
figures with them too, under "including_warmup".) Reported: p50 and p99 of TTFT, their error from 0.05 s, and ours minus bare at
p50 and p99, with the achieved request rate and CPU use so overload is visible: at 256 clients
the demand (~1,280 req/s with 17 events each) is more than 2 cores can serve, so both TTFTs
include queueing on the client and server side, and the gap shows what the client's own cost
adds under that load.

Before each trial it waits (up to --quiet-wait s) until other processes use <= --max-other
cores (other sessions' tests share the machine), and a trial that others still disturbed is run
again (--retries), keeping the least disturbed attempt, for every tool alike; each trial records
what others used. TTFTs are pooled over the rounds' trials that others left alone (<= --max-other
cores) when every tool has one ("clean"), else over all trials ("NOISY", flagged).

Targets (issue): ours within 2 ms of the bare loop at p50 and within 10 ms at p99.
Writes bench/results/bench_ttft_accuracy.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402

TRUTH = 0.05
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0


async def trial(tool: str, base_url: str, payload: dict, clients: int, duration: float,
                args: argparse.Namespace, server_pid: int) -> tuple[common.LoopResult, list[float]]:
    if tool == "bare":
        def run():
            return common.bare_loop(base_url, payload, clients, duration=duration,
                                    measure_ttft=True)
    elif tool == "ours":
        def run():
            return common.run_ours(base_url, payload, clients, duration=duration, keep_ttft=True)
    else:
        def run():
            return common.run_llmeter(base_url, payload, clients, duration=duration,
                                      keep_ttft=True)
    return await common.clean_trial(run, server_pid, quiet_wait=args.quiet_wait,
                                    max_other=args.max_other, retries=args.retries)


def ms(x: float | None) -> float | None:
    return None if x is None else x * 1000.0


async def main(args: argparse.Namespace) -> None:
    tools = ["bare", "ours", "llmeter"]
    if args.no_llmeter:
        tools.remove("llmeter")
    elif why := common.llmeter_available():
        print(f"llmeter skipped: {why}")
        tools.remove("llmeter")
    payload = common.chat_payload(args.max_tokens)
    sim = dict(mode="fixed", ttft=TRUTH, itl=args.itl)
    print(f"simulator {sim}, max_tokens={args.max_tokens}, {args.duration:g} s per trial "
          f"({args.single_duration:g} s at 1 client), {args.rounds} rounds, tools "
          f"{', '.join(tools)}, load avg {os.getloadavg()[0]:.2f}")
    info: dict[tuple[str, int], list[dict]] = {}
    with SimulatedServer.spawn(**sim) as proc:
        await common.bare_loop(proc.base_url, payload, 4, duration=0.5)  # warm-up
        for rnd in range(args.rounds):
            order = tools[rnd % len(tools):] + tools[: rnd % len(tools)]
            for clients in args.clients:
                duration = args.single_duration if clients == 1 else args.duration
                for tool in order:
                    r, attempts = await trial(tool, proc.base_url, payload, clients, duration,
                                              args, proc.pid)
                    steady = [t for t, sent in zip(r.ttfts, r.sends, strict=True) if sent >= args.warmup]
                    info.setdefault((tool, clients), []).append({
                        "ttfts": steady, "ttfts_all": r.ttfts,
                        "p50_all_ms": ms(common.percentile(r.ttfts, 50)),
                        "p99_all_ms": ms(common.percentile(r.ttfts, 99)),
                        "rps": r.rps, "completed": r.completed, "failed": r.failed,
                        "client_cpu": r.client_cpu, "server_cpu": r.server_cpu,
                        "other_cpu": r.other_cpu, "other_cpu_of_attempts": attempts,
                        "p50_ms": ms(common.percentile(steady, 50)),
                        "p99_ms": ms(common.percentile(steady, 99)),
                    })
                    print(f"  round {rnd + 1} {tool:>7} {clients:>4} clients: "
                          f"p50 {ms(common.percentile(steady, 50)) or 0:7.2f} ms, "
                          f"p99 {ms(common.percentile(steady, 99)) or 0:7.2f} ms "
                          f"({len(steady)} TTFTs after warm-up; all {len(r.ttfts)}: p99 "
                          f"{ms(common.percentile(r.ttfts, 99)) or 0:.1f} ms), {r.rps:.0f} req/s, {r.failed} failed; cpu "
                          f"client {r.client_cpu:.2f} server {r.server_cpu:.2f} "
                          f"others {r.other_cpu:.2f}", flush=True)
                    await asyncio.sleep(args.pause)

    summary: dict[str, dict] = {}
    rows, gap_rows = [], []
    for clients in args.clients:
        entry: dict[str, dict] = {}
        # TTFTs are pooled over the trials that other processes left (nearly) alone, when every
        # tool has such a trial ("clean"); else over all trials ("NOISY", flagged).
        clean = all(any(r["other_cpu"] <= args.max_other for r in info[(tool, clients)])
                    for tool in tools)
        for tool in tools:
            runs = info[(tool, clients)]
            used = [r for r in runs if r["other_cpu"] <= args.max_other] if clean else runs
            values = [v for r in used for v in r["ttfts"]]
            p50, p99 = ms(common.percentile(values, 50)), ms(common.percentile(values, 99))
            every = [v for r in used for v in r["ttfts_all"]]
            entry[tool] = {
                "including_warmup": {"n": len(every),
                                     "p50_ms": ms(common.percentile(every, 50)),
                                     "p99_ms": ms(common.percentile(every, 99))},
                "n": len(values), "trials_used": len(used), "p50_ms": p50, "p99_ms": p99,
                "p50_error_ms": None if p50 is None else p50 - TRUTH * 1000,
                "p99_error_ms": None if p99 is None else p99 - TRUTH * 1000,
                "rps_mean": sum(r["rps"] for r in used) / len(used),
                "client_cpu": sum(r["client_cpu"] for r in used) / len(used),
                "server_cpu": sum(r["server_cpu"] for r in used) / len(used),
                "other_cpu": sum(r["other_cpu"] for r in used) / len(used),
                "runs": [{k: v for k, v in r.items() if k not in ("ttfts", "ttfts_all")}
                         for r in runs],
            }
            rows.append([clients, tool, len(values), p50, entry[tool]["p50_error_ms"], p99,
                         entry[tool]["p99_error_ms"], entry[tool]["rps_mean"],
                         f"{entry[tool]['client_cpu']:.2f}/{entry[tool]['server_cpu']:.2f}/"
                         f"{entry[tool]['other_cpu']:.2f}", "clean" if clean else "NOISY"])
        d50 = entry["ours"]["p50_ms"] - entry["bare"]["p50_ms"]
        d99 = entry["ours"]["p99_ms"] - entry["bare"]["p99_ms"]
        # The same gap per round (ours and bare of one round ran a minute apart at most), median.
        pairs = list(zip(info[("ours", clients)], info[("bare", clients)]))
        r50 = statistics.median(o["p50_ms"] - b["p50_ms"] for o, b in pairs)
        r99 = statistics.median(o["p99_ms"] - b["p99_ms"] for o, b in pairs)
        w_ours, w_bare = entry["ours"]["including_warmup"], entry["bare"]["including_warmup"]
        entry["ours_minus_bare"] = {
            "p50_ms": d50, "p99_ms": d99, "clean_trials_only": clean,
            "including_warmup_p50_ms": w_ours["p50_ms"] - w_bare["p50_ms"],
            "including_warmup_p99_ms": w_ours["p99_ms"] - w_bare["p99_ms"],
            "per_round_median_p50_ms": r50, "per_round_median_p99_ms": r99,
            "p50_met": abs(d50) <= TARGET_P50_MS, "p99_met": abs(d99) <= TARGET_P99_MS,
        }
        gap_rows.append([clients, d50, "met" if abs(d50) <= TARGET_P50_MS else "MISSED",
                         d99, "met" if abs(d99) <= TARGET_P99_MS else "MISSED", r50, r99,
                         "clean" if clean else "NOISY"])
        summary[str(clients)] = entry

    print()
    common.print_table(["clients", "tool", "n", "p50 ms", "p50 err ms", "p99 ms", "p99 err ms",
                        "req/s", "cores cli/srv/other", "trials"], rows)
    print(f"\nours minus bare (targets: |p50| <= {TARGET_P50_MS:g} ms, |p99| <= "
          f"{TARGET_P99_MS:g} ms)")
    common.print_table(["clients", "p50 gap ms", "p50", "p99 gap ms", "p99",
                        "per-round median p50 gap", "p99 gap", "trials"], gap_rows)
    print(f"(pooled over trials in which other processes used <= {args.max_other} cores "
          "('clean'), or over all trials if a tool had none ('NOISY'))")
    common.write_results("bench_ttft_accuracy", {
        "settings": {**sim, "max_tokens": args.max_tokens, "duration": args.duration,
                     "single_duration": args.single_duration, "rounds": args.rounds,
                     "clients": args.clients, "tools": tools, "truth_s": TRUTH,
                     "load_avg_at_start": os.getloadavg()},
        "summary": summary,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[1, 64, 256])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per trial (default 5)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="leave out requests sent in each trial's first WARMUP s (default 1): "
                        "every client's first request opens a TCP connection, all at once")
    p.add_argument("--single-duration", type=float, default=10.0,
                   help="seconds per trial at 1 client, for enough samples (default 10)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--itl", type=float, default=0.01)
    p.add_argument("--max-tokens", type=int, default=16)
    common.add_trial_arguments(p, max_other=0.2)
    return p.parse_args(argv)


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main(parse_args()))
    print(f"total {time.perf_counter() - started:.0f} s")
