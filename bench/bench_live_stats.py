"""What chosen live stats and a publishing callback cost the load generator.

The same Runner run, side by side in interleaved rounds against the simulator in its own
process: "default" (the default table, no callback) and "custom" (a `CostModel` publishing on
every response, and a table with three extra percentiles and a Python transform, which the run
computes as it goes). Reported: requests/s and client CPU per request for each, and their
ratios. A demanding user asks whether pricing every request live slows the measurement.

    .venv/bin/python bench/bench_live_stats.py                # 64 and 256 clients, 3 rounds
    .venv/bin/python bench/bench_live_stats.py --clients 256 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
from llmeter_widget import CostModel  # noqa: E402
from llmeter_widget.simulator import SimulatedServer  # noqa: E402

VARIANTS = ("default", "custom")
CUSTOM_STATS = {
    "Req/min": "requests_per_minute",
    "TTFT p95": "time_to_first_token-p95",
    "TTFT p99.9": "time_to_first_token-p99.9",
    "TTLT p95": "time_to_last_token-p95",
    "TTFT ms": {"key": "time_to_first_token-p50", "unit": "ms", "transform": lambda v: v * 1000},
    "Cost": {"key": "cost-total", "unit": "$"},
    "Cost/request": {"key": "cost-per_request", "unit": "$"},
}


def runner_kwargs(variant: str) -> dict:
    if variant == "default":
        return {}
    return {"callbacks": [CostModel(input_per_million=0.15, output_per_million=0.6)],
            "live_stats": CUSTOM_STATS}


async def main(args: argparse.Namespace) -> None:
    payload = common.chat_payload(args.max_tokens)
    sim = dict(mode="fixed", ttft=args.ttft, itl=args.itl)
    print(f"simulator {sim}, max_tokens={args.max_tokens}, {args.duration:g} s per trial, "
          f"{args.rounds} rounds, load avg {os.getloadavg()[0]:.2f}")
    trials: list[dict] = []
    with SimulatedServer.spawn(**sim) as proc:
        await common.bare_loop(proc.base_url, payload, 8, duration=1.0)  # warm-up, not counted
        for rnd in range(args.rounds):
            order = VARIANTS if rnd % 2 == 0 else VARIANTS[::-1]
            for clients in args.clients:
                for variant in order:
                    kwargs = runner_kwargs(variant)
                    r, _ = await common.clean_trial(
                        lambda kw=kwargs, n=clients: common.run_ours(proc.base_url, payload, n,
                                                                     duration=args.duration, **kw),
                        proc.pid, quiet_wait=args.quiet_wait, max_other=args.max_other,
                        retries=args.retries)
                    trials.append({"round": rnd, "variant": variant, "clients": clients,
                                   "rps": r.rps, "failed": r.failed, "other_cpu": r.other_cpu,
                                   "cpu_us_per_request": r.cpu_us_per_request})
                    print(f"  round {rnd + 1} {variant:>7} {clients:>4} clients: {r.rps:8.1f} req/s, "
                          f"{r.cpu_us_per_request or 0:.0f} us client CPU/request, "
                          f"others {r.other_cpu:.2f} cores", flush=True)
                    await asyncio.sleep(args.pause)

    rows, summary = [], {}
    for clients in args.clients:
        per = {}
        for variant in VARIANTS:
            runs = [t for t in trials if t["variant"] == variant and t["clients"] == clients]
            per[variant] = {"rps": statistics.median(t["rps"] for t in runs),
                            "cpu_us": statistics.median(t["cpu_us_per_request"] or 0 for t in runs),
                            "failed": sum(t["failed"] for t in runs)}
        rps_ratio = per["custom"]["rps"] / per["default"]["rps"]
        cpu_ratio = per["custom"]["cpu_us"] / per["default"]["cpu_us"]
        summary[str(clients)] = {**per, "custom_over_default_rps": rps_ratio,
                                 "custom_over_default_cpu_per_request": cpu_ratio}
        rows.append([clients, per["default"]["rps"], per["custom"]["rps"], rps_ratio,
                     per["default"]["cpu_us"], per["custom"]["cpu_us"], cpu_ratio])
    print()
    common.print_table(["clients", "default req/s", "custom req/s", "custom/default",
                        "default us/req", "custom us/req", "CPU custom/default"], rows)
    common.write_results("bench_live_stats", {
        "settings": {**sim, "max_tokens": args.max_tokens, "duration": args.duration,
                     "rounds": args.rounds, "clients": args.clients},
        "summary": summary, "trials": trials,
    })


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_throughput_load_arguments(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
