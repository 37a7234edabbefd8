"""Worker processes: TTFT and client CPU with the clients in 0, 1 or 2 worker processes, beside
the bare aiohttp loop, against a server whose true TTFT is known exactly.

Run:  .venv/bin/python bench/bench_workers.py                  (256 and 512 clients; ~4 min)
      .venv/bin/python bench/bench_workers.py --clients 256 --rounds 1 --workers 0 2

Setup: the simulator in its own process, fixed mode, ttft=0.1 s, itl=0.01 s, max_tokens=16
(~0.25 s a request). Per round and client count, interleaved (the order rotates):

- bare: common.bare_loop in this process (the best one asyncio process does, parsing nothing);
- ours-wN: Runner(workers=N); N=0 is the in-process engine, N>=1 sends from N processes while
  this one merges. Worker start-up (~1 s a process) happens before the run's clock, so it is
  in neither the TTFTs nor the request rate.

TTFTs of requests sent in the first --warmup s are left out (every client connects then).
Client CPU is this process plus its reaped children (the workers), per successful request.
The machine has 2 cores: with the simulator in one process, 2 workers and the parent make four
busy processes on two cores, so this bench shows what the split costs or gains *here*; on a
machine with more cores than worker processes the parent's loop is what workers relieve.
Writes bench/results/bench_workers.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from llmeter_widget import Runner  # noqa: E402
from llmeter_widget.endpoints import OpenAIChatEndpoint  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402

TRUTH = 0.1


async def ours(base_url: str, payload: dict, clients: int, duration: float,
               workers: int) -> common.LoopResult:
    runner = Runner(OpenAIChatEndpoint(base_url=base_url, model=common.MODEL), payload,
                    live_view=False, workers=workers)
    result = await runner.run(clients=clients, run_duration=duration)
    ok = [r for r in result.responses if r.ok and r.time_to_first_token is not None]
    first = min(r.t_send for r in result.responses)
    out = common.LoopResult(f"ours-w{workers}", clients,
                            completed=len(ok), failed=result.stats["failed_requests"],
                            elapsed=max(r.t_end for r in result.responses) - first)
    out.ttfts = [r.time_to_first_token for r in ok]
    out.sends = [r.t_send - first for r in ok]
    out.loop_lag_max = result.stats["event_loop_lag_max"]
    return out


async def trial(tool: str, base_url: str, payload: dict, clients: int,
                args: argparse.Namespace, server_pid: int) -> common.LoopResult:
    if tool == "bare":
        def run():
            return common.bare_loop(base_url, payload, clients, duration=args.duration,
                                    measure_ttft=True)
    else:
        workers = int(tool.split("-w")[1])

        def run():
            return ours(base_url, payload, clients, args.duration, workers)
    result, _ = await common.clean_trial(run, server_pid, quiet_wait=args.quiet_wait,
                                         max_other=args.max_other, retries=args.retries)
    return result


def ms(x: float | None) -> float | None:
    return None if x is None else x * 1000


async def main(args: argparse.Namespace) -> None:
    tools = ["bare", *(f"ours-w{n}" for n in args.workers)]
    payload = common.chat_payload(args.max_tokens)
    sim = dict(mode="fixed", ttft=TRUTH, itl=args.itl)
    print(f"simulator {sim}, max_tokens={args.max_tokens}, {args.duration:g} s per trial, "
          f"{args.rounds} rounds, tools {', '.join(tools)}, load avg {os.getloadavg()[0]:.2f}")
    pooled: dict[tuple[str, int], dict[str, list]] = {}
    with SimulatedServer.spawn(**sim) as proc:
        await common.bare_loop(proc.base_url, payload, 4, duration=0.5)  # warm-up
        for rnd in range(args.rounds):
            order = tools[rnd % len(tools):] + tools[: rnd % len(tools)]
            for clients in args.clients:
                for tool in order:
                    r = await trial(tool, proc.base_url, payload, clients, args, proc.pid)
                    steady = [t for t, s in zip(r.ttfts, r.sends) if s >= args.warmup]
                    entry = pooled.setdefault((tool, clients), {"ttfts": [], "rps": [], "cpu_us": [],
                                                                 "other": [], "lag": []})
                    entry["ttfts"] += steady
                    entry["rps"].append(r.rps)
                    entry["cpu_us"].append(r.cpu_us_per_request)
                    entry["other"].append(r.other_cpu)
                    entry["lag"].append(getattr(r, "loop_lag_max", None))
                    print(f"  round {rnd + 1} {tool:>8} {clients:>4} clients: p50 "
                          f"{ms(common.percentile(steady, 50)) or 0:7.1f} ms p99 "
                          f"{ms(common.percentile(steady, 99)) or 0:7.1f} ms, {r.rps:6.0f} req/s, "
                          f"{r.failed} failed, client CPU {r.cpu_us_per_request or 0:.0f} us/req, "
                          f"others {r.other_cpu or 0:.2f} cores", flush=True)
                    await asyncio.sleep(args.pause)
    rows, summary = [], {}
    for clients in args.clients:
        bare = pooled[("bare", clients)]
        b50, b99 = ms(common.percentile(bare["ttfts"], 50)), ms(common.percentile(bare["ttfts"], 99))
        b_cpu = sum(bare["cpu_us"]) / len(bare["cpu_us"])
        for tool in tools:
            e = pooled[(tool, clients)]
            p50, p99 = ms(common.percentile(e["ttfts"], 50)), ms(common.percentile(e["ttfts"], 99))
            cpu = sum(e["cpu_us"]) / len(e["cpu_us"])
            summary[f"{tool}@{clients}"] = {
                "n": len(e["ttfts"]), "p50_ms": p50, "p99_ms": p99,
                "p50_minus_bare_ms": p50 - b50, "p99_minus_bare_ms": p99 - b99,
                "rps": sum(e["rps"]) / len(e["rps"]), "client_cpu_us_per_request": cpu,
                "cpu_ratio_to_bare": cpu / b_cpu, "other_cpu": e["other"],
                "parent_loop_lag_max": e["lag"]}
            rows.append([clients, tool, len(e["ttfts"]), p50, p50 - b50, p99, p99 - b99,
                         summary[f"{tool}@{clients}"]["rps"], cpu, cpu / b_cpu])
    print()
    common.print_table(["clients", "tool", "n", "p50 ms", "- bare", "p99 ms", "- bare", "req/s",
                        "CPU us/req", "CPU / bare"], rows)
    common.write_results("bench_workers", {
        "settings": {**sim, "max_tokens": args.max_tokens, "duration": args.duration,
                     "rounds": args.rounds, "clients": args.clients, "tools": tools,
                     "truth_s": TRUTH, "machine": common.machine(),
                     "load_avg_at_start": os.getloadavg()},
        "summary": summary,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, nargs="+", default=[256, 512])
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--warmup", type=float, default=1.5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--itl", type=float, default=0.01)
    p.add_argument("--max-tokens", type=int, default=16)
    common.add_trial_arguments(p, max_other=0.4)
    return p.parse_args(argv)


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main(parse_args()))
    print(f"({time.perf_counter() - started:.0f} s)")
