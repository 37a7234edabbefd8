"""What low-memory mode promises, checked directly: no per-request state in memory (the
accumulators hold sketches, not values, and the runner keeps no responses), memory that does
not grow with the number of requests, and percentiles within the sketch's stated error of the
exact ones."""

from __future__ import annotations

import gc
import json
import math
import random
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmeter_widget import Result, Runner
from llmeter_widget.endpoints import InvocationResponse, OpenAIChatEndpoint
from llmeter_widget.simulator import SimulatedServer
from llmeter_widget.stats import SKETCH_RELATIVE_ACCURACY, Distribution, RunningStats

ALPHA = SKETCH_RELATIVE_ACCURACY


def sketch_bounds(values, q):
    """What DDSketch promises for the q-th percentile: within ALPHA (relative) of the value at
    rank floor(q/100 * (n-1)) of the sorted values (its rank rule), clamped to [min, max]."""
    ranked = sorted(values)
    at_rank = ranked[math.floor(q / 100 * (len(ranked) - 1))]
    return max(at_rank * (1 - ALPHA), ranked[0]), min(at_rank * (1 + ALPHA), ranked[-1])


def interpolated_bounds(values, q):
    """The run's sketched percentiles interpolate between the two ranks around q/100 * (n-1),
    each read within ALPHA: so within ALPHA of the two values numpy interpolates between."""
    ranked = sorted(values)
    rank = q / 100 * (len(ranked) - 1)
    low, high = ranked[math.floor(rank)], ranked[math.ceil(rank)]
    return max(low * (1 - ALPHA), ranked[0]), min(high * (1 + ALPHA), ranked[-1])


# -- the sketch's error --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(min_value=1e-4, max_value=600.0), min_size=1, max_size=400),
       q=st.sampled_from([0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0]))
def test_sketched_percentiles_are_within_the_stated_error(values, q):
    dist = Distribution(exact=False)
    for v in values:
        dist.add(v)
    low, high = sketch_bounds(values, q)
    assert low <= dist.percentile(q) <= high
    # count, sum, min and max stay exact in low-memory mode
    assert dist.count == len(values) and dist.min == min(values) and dist.max == max(values)
    assert dist.mean == pytest.approx(float(np.mean(values)), rel=1e-9)


# -- flat memory over a long run (RunningStats fed as a run would, on its own clock) --------------
class SteppingClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def feed(rs: RunningStats, clock: SteppingClock, n: int, rng: random.Random,
         rate: float = 50.0) -> None:
    """n requests, `rate` a second, each ~0.5 s long: what a steady closed-loop run sends."""
    for _ in range(n):
        t_send = clock.now
        rs.record_send(t_send)
        ttft = rng.uniform(0.05, 0.3)
        ttlt = ttft + rng.uniform(0.1, 0.4)
        rs.update(InvocationResponse(t_send=t_send, t_first_token=t_send + ttft,
                                     t_last_token=t_send + ttlt, t_end=t_send + ttlt,
                                     num_tokens_input=20, num_tokens_output=32).finalize())
        clock.now += 1.0 / rate


def retained_after(rs: RunningStats, clock: SteppingClock, n: int, rng: random.Random,
                   rate: float = 50.0) -> int:
    feed(rs, clock, n, rng, rate)
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.parametrize("low_memory", [True, False], ids=["low-memory", "exact"])
def test_running_stats_memory_is_flat_only_in_low_memory_mode(low_memory):
    """2,000 requests at 50 a second (40 s) fill the live window; 40,000 more at 4,000 a second
    (10 s: the window then holds 40,000 responses) must add nothing in low-memory mode: no
    state per request, none per request of the last seconds either (the window's raw values,
    sorted every second, kept ~140 bytes for each: 5.6 MB here). The exact mode, in the same
    test, shows the measurement sees growth."""
    clock, rng = SteppingClock(), random.Random(3)
    # history_limit: per-second chart buckets are bounded by time (2 h by default), not by
    # requests; a small limit keeps this test about per-request state.
    rs = RunningStats(low_memory=low_memory, clock=clock, history_limit=30)
    tracemalloc.start()
    try:
        warm = retained_after(rs, clock, 2_000, rng, rate=50)
        grown = retained_after(rs, clock, 40_000, rng, rate=4_000) - warm
    finally:
        tracemalloc.stop()
    assert rs.total_requests == 42_000
    if low_memory:
        # measured ~26 kB: the per-second sketches' bins filling in at the higher rate (at most
        # ~45 kB for these ranges: 11 seconds x ~170 bins x 24 B), where one float per response
        # of the window would be > 40,000 x 24 B
        assert grown < 64_000, f"{grown} bytes more after 40,000 more requests"
        assert all(d._values is None for d in rs.distributions.values())
    else:
        # every value kept: each metric the feed gives values (TTFT, TTLT, TPOT, tokens) x 40,000
        fed = [m for m, d in rs.distributions.items() if d.count and d._values is not None]
        assert len(fed) >= 5 and grown > 40_000 * len(fed) * 16, (fed, grown)
    # the live window, in both modes: `window` closed seconds, each a sketch per metric
    assert len(rs._live._closed) == rs._live.seconds == 10
    assert all(d._values is None and not d._pending
               for second in rs._live._closed for d in second.dists.values())


# -- the runner, end to end, against the simulator in its own process -----------------------------
@pytest.fixture(scope="module")
def fast_server():
    with SimulatedServer.spawn(mode="fixed", ttft=0.002, itl=0.001) as server:
        yield server


def runner_for(server, tmp_path, low_memory: bool) -> Runner:
    ep = OpenAIChatEndpoint(base_url=server.base_url, model="sim")
    return Runner(ep, OpenAIChatEndpoint.create_payload("Hi", max_tokens=4), output_path=tmp_path,
                  low_memory=low_memory, live_view=False)


async def retained_by_a_run(server, tmp_path, low_memory: bool, n_requests: int) -> int:
    """Bytes still allocated while the finished run's Runner and Result are held, as a notebook
    holds them, leaving out the per-second chart buckets and the live window's per-second
    sketches: they are bounded by time, not by requests (see the test above)."""
    gc.collect()
    before = tracemalloc.take_snapshot()
    runner = runner_for(server, tmp_path, low_memory)
    result = await runner.run(clients=8, n_requests=n_requests)
    assert result.stats["total_requests"] == 8 * n_requests
    runner.stats.history.clear()
    runner.stats._live.clear()
    gc.collect()
    retained = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    del runner, result
    return retained


@pytest.mark.parametrize("low_memory", [True, False], ids=["low-memory", "exact"])
async def test_a_low_memory_run_holds_nothing_per_request(fast_server, tmp_path, low_memory):
    """Four times the requests retain no more memory in low-memory mode; in exact mode (the
    reference, same test) they retain every response and every value."""
    tracemalloc.start()
    try:
        await retained_by_a_run(fast_server, tmp_path, low_memory, 5)  # warm-up: imports, pools
        small = await retained_by_a_run(fast_server, tmp_path, low_memory, 25)
        large = await retained_by_a_run(fast_server, tmp_path, low_memory, 100)
    finally:
        tracemalloc.stop()
    extra_requests = 8 * (100 - 25)
    per_request = (large - small) / extra_requests
    if low_memory:
        # measured ~11 (sketch bins filling in, bounded); a float kept per metric would be ~125
        assert per_request < 48, f"{per_request:.0f} bytes retained per request"
    else:
        assert per_request > 500, f"{per_request:.0f} bytes retained per request"  # ~900


async def test_low_memory_run_keeps_sketches_and_no_responses(fast_server, tmp_path):
    runner = runner_for(fast_server, tmp_path, low_memory=True)
    result = await runner.run(clients=8, n_requests=20, run_name="lm")
    run = runner._run
    assert result.responses == [] and run.responses == []
    lines = [json.loads(line) for line in (tmp_path / "lm" / "responses.jsonl").read_text().splitlines()]
    assert len(lines) == 160
    # one value per request; none for reasoning (the simulator does not reason here) nor for
    # an open loop's schedule (clients here); one per token gap for the inter-token latency
    counts = {"time_to_first_reasoning_token": 0,
              **dict.fromkeys(("scheduled_time_to_first_token", "scheduled_time_to_last_token",
                               "schedule_lag", "concurrency_wait"), 0),
              "inter_token_latency": sum(len(line["inter_token_latencies"]) for line in lines)}
    assert counts["inter_token_latency"] > 160
    for metric, dist in runner.stats.distributions.items():
        assert dist._values is None and dist._sketch is not None, metric
        assert dist.count == counts.get(metric, 160), metric
    # everything is on disk, and the saved percentiles are within the sketch's error of the
    # exact ones computed from responses.jsonl
    for metric in ("time_to_first_token", "time_to_last_token", "time_per_output_token"):
        values = [line[metric] for line in lines]
        for q in (50, 90, 99):
            low, high = interpolated_bounds(values, q)
            assert low <= result.stats[f"{metric}-p{q}"] <= high, (metric, q)
            assert result.stats[f"{metric}-p{q}"] == pytest.approx(np.percentile(values, q),
                                                                   rel=ALPHA)
        assert result.stats[f"{metric}-average"] == pytest.approx(float(np.mean(values)), rel=1e-9)
    loaded = Result.load(tmp_path / "lm", load_responses=False)
    assert loaded.low_memory and loaded.responses == []
    assert loaded.stats["time_to_first_token-p90"] == result.stats["time_to_first_token-p90"]


def test_a_low_memory_runs_percentiles_interpolate_like_the_exact_ones():
    # 4 values spaced far apart: the sketch's own rank rule reads the p50 as 0.3 (a whole rank
    # off); the run's p50 must be numpy's 0.4, in both modes, within the sketch's 1%.
    exact, sketched = RunningStats(), RunningStats(low_memory=True)
    for rs in (exact, sketched):
        for i, ttft in enumerate((0.1, 0.3, 0.5, 0.7)):
            rs.record_send(float(i))
            rs.update(InvocationResponse(t_send=float(i), t_first_token=i + ttft,
                                         t_last_token=i + 1.0, t_end=i + 1.0).finalize())
    assert exact.to_stats()["time_to_first_token-p50"] == pytest.approx(0.4)
    assert sketched.to_stats()["time_to_first_token-p50"] == pytest.approx(0.4, rel=ALPHA)
    assert sketched.distributions["time_to_first_token"].percentile(50) == pytest.approx(0.3, rel=ALPHA)
