"""RunningStats against numpy on known data; sketch accuracy; series buckets; speed of reads."""

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmeter_widget.endpoints.base import InvocationResponse
from llmeter_widget.stats import SKETCH_RELATIVE_ACCURACY, Distribution, RunningStats, percentile


class FakeClock:
    """A settable monotonic clock, so series buckets can be tested exactly."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def response(send, ttft, ttlt, tokens=10, error_type=None, tokens_in=5):
    r = InvocationResponse(
        t_send=send, t_first_token=None if ttft is None else send + ttft,
        t_last_token=send + ttlt, t_end=send + ttlt, num_tokens_output=tokens,
        num_tokens_input=tokens_in, token_source="usage",
    )
    if error_type:
        r.error, r.error_type = "boom", error_type
    return r.finalize()


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
@pytest.mark.parametrize("q", [0, 1, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear(n, q):
    rng = random.Random(n * 1000 + q)
    values = sorted(rng.lognormvariate(0, 1) for _ in range(n))
    assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_percentile_never_exceeds_max_on_small_samples():
    # statistics.quantiles(method="exclusive") returns 4.0+ for p99 of [1,2,3,4]: we must not.
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) <= 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 99) == pytest.approx(np.percentile([1, 2, 3, 4], 99))


def test_to_stats_against_numpy():
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock)
    rng = random.Random(7)
    ttfts, ttlts, tokens, tpots = [], [], [], []
    for i in range(500):
        send = i * 0.01
        ttft = rng.uniform(0.05, 0.5)
        ttlt = ttft + rng.uniform(0.1, 2.0)
        n = rng.randint(2, 200)
        rs.record_send(send)
        clock.t = send + ttlt
        rs.update(response(send, ttft, ttlt, tokens=n))
        ttfts.append(ttft); ttlts.append(ttlt); tokens.append(n); tpots.append((ttlt - ttft) / (n - 1))
    stats = rs.to_stats()
    for key, values in [("time_to_first_token", ttfts), ("time_to_last_token", ttlts),
                        ("num_tokens_output", tokens), ("time_per_output_token", tpots)]:
        for q in (50, 90, 99):
            assert stats[f"{key}-p{q}"] == pytest.approx(np.percentile(values, q)), key
        assert stats[f"{key}-average"] == pytest.approx(np.mean(values))
    assert stats["total_requests"] == 500
    assert stats["total_output_tokens"] == sum(tokens)
    assert stats["total_input_tokens"] == 5 * 500
    assert stats["failed_requests"] == 0 and stats["failed_requests_rate"] == 0
    # send window 4.99 s + mean duration
    duration = 4.99 + np.mean(ttlts)
    assert stats["send_window"] == pytest.approx(4.99)
    assert stats["requests_per_minute"] == pytest.approx(500 / duration * 60)
    assert stats["output_tps"] == pytest.approx(sum(tokens) / duration)


def steady_closed_loop(waves: int, failing_clients: tuple[int, ...] = ()) -> RunningStats:
    """4 clients, each request exactly 0.5 s, `waves` rounds; the clients in `failing_clients`
    fail every request (a broken stream that kept 7 of its 10 tokens)."""
    rs = RunningStats(clock=FakeClock(0.0))
    for wave in range(waves):
        for client in range(4):
            send = wave * 0.5 + client * 1e-4
            rs.record_send(send)
            failed = client in failing_clients
            rs.update(response(send, 0.1, 0.5, tokens=7 if failed else 10,
                               error_type="broken_stream" if failed else None))
    return rs


def test_send_window_rate_is_exact_for_a_steady_closed_loop():
    # the true rate is 8 req/s = 480 req/min, both for a long run and for a single wave (where
    # the send window is ~0)
    for waves in (1, 3, 50):
        rs = steady_closed_loop(waves)
        assert rs.to_stats()["requests_per_minute"] == pytest.approx(480, rel=0.01), waves


def test_failures_by_class_and_partial_ttft_kept():
    rs = RunningStats(clock=FakeClock(0.0))
    for i, err in enumerate([None, "timeout", "http_5xx", "http_5xx", "broken_stream"]):
        rs.record_send(i)
        rs.update(response(i, 0.2, 1.0, error_type=err))
    cancelled = InvocationResponse(t_send=9.0, t_end=9.5, error="cancelled", error_type="cancelled")
    rs.record_send(9.0)
    rs.update(cancelled.finalize())
    stats = rs.to_stats()
    assert stats["total_requests"] == 5
    assert stats["failed_requests"] == 4
    assert stats["failed_requests_rate"] == pytest.approx(0.8)
    assert stats["cancelled_requests"] == 1
    assert stats["errors-http_5xx"] == 2 and stats["errors-timeout"] == 1
    assert stats["errors-broken_stream"] == 1
    # TTFT measured before a failure still counts; TTLT only for successes.
    assert rs.distributions["time_to_first_token"].count == 5
    assert rs.distributions["time_to_last_token"].count == 1
    assert rs.in_flight == 0


def test_empty_stats_are_placeholders_not_errors():
    stats = RunningStats().to_stats()
    assert stats["total_requests"] == 0
    assert stats["requests_per_minute"] is None
    assert stats["time_to_first_token-p50"] is None


def test_low_memory_sketch_within_one_percent_and_bounded():
    rng = np.random.default_rng(3)
    values = rng.lognormal(mean=-1.5, sigma=0.8, size=50_000)
    sketch = Distribution(exact=False)
    for v in values:
        sketch.add(float(v))
    for q in (50, 90, 99):
        assert sketch.percentile(q) == pytest.approx(np.percentile(values, q), rel=0.011)
    assert sketch.percentile(100) <= values.max()
    assert sketch.percentile(0) >= values.min()
    # a sketch holds bins, not values
    assert sketch._values is None


def test_sketch_and_exact_merge():
    a, b = Distribution(exact=False), Distribution(exact=False)
    for v in range(1, 101):
        (a if v % 2 else b).add(float(v))
    a.merge(b)
    assert a.count == 100 and a.percentile(50) == pytest.approx(50.5, rel=0.02)
    with pytest.raises(ValueError):
        a.merge(Distribution(exact=True))


def test_series_buckets_per_second_and_cursor():
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock, window=10.0)
    rs.set_active_clients(3)
    for t in (0.2, 0.4, 1.5):
        rs.record_send(t - 0.1)
        clock.t = t
        rs.update(response(t - 0.1, 0.05, 0.1, tokens=4))
    clock.t = 2.1
    snap = rs.snapshot()
    assert [b["t"] for b in snap["series"]] == [0, 1]
    assert [b["completed"] for b in snap["series"]] == [2, 1]
    assert [b["output_tokens"] for b in snap["series"]] == [8, 4]
    assert snap["series"][0]["ttft_p50"] == pytest.approx(0.05)
    assert snap["series"][0]["active_clients"] == 3
    # throughput averaged over the last rate_window (5) seconds, or fewer at the start
    assert snap["series"][0]["requests_per_minute"] == pytest.approx(120)
    assert snap["series"][1]["requests_per_minute"] == pytest.approx(90)
    assert snap["series"][1]["output_tps"] == pytest.approx(6)
    assert snap["next_series_index"] == 2
    # the next snapshot only carries what is new
    clock.t = 2.5
    assert rs.snapshot()["series"] == []
    clock.t = 3.2
    assert [b["t"] for b in rs.snapshot()["series"]] == [2]
    # an independent consumer (a late view) gets the whole history
    assert [b["t"] for b in rs.snapshot(series_since=0)["series"]] == [0, 1, 2]
    # final closes the partial second
    assert [b["t"] for b in rs.snapshot(final=True)["series"]] == [3]
    # six seconds on, the window has slid past the first second's requests
    clock.t = 9.5
    assert rs.snapshot()["series"][-1]["requests_per_minute"] == 0


def test_long_silence_does_not_build_millions_of_buckets():
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock, history_limit=100)
    clock.t = 1_000_000.0
    closed = []
    close_bucket = rs._close_bucket
    rs._close_bucket = lambda: (closed.append(1), close_bucket())  # count the buckets built
    rs.snapshot()
    assert len(closed) <= 100 + 2  # not one per silent second (a million)
    assert len(rs.history) <= 100 and rs.history[-1]["t"] == 1_000_000 - 1


def test_rebuilt_series_replays_sends_and_ends_in_time_order():
    from llmeter_widget.stats import stats_from_responses

    def timed(send, end):
        return InvocationResponse(t_send=send, t_first_token=send + 0.1, t_last_token=end,
                                  t_end=end, num_tokens_output=4).finalize()

    # r1 0.0-1.5 overlaps r2 0.2-0.8; r3 2.1-2.5; one untimed (llmeter-style) response
    rebuilt = stats_from_responses([timed(2.1, 2.5), timed(0.0, 1.5), timed(0.2, 0.8),
                                    InvocationResponse(time_to_first_token=0.3)])
    series = rebuilt.series(0)
    assert [b["t"] for b in series] == [0, 1, 2]
    assert [b["completed"] for b in series] == [1, 1, 1]
    assert [b["in_flight"] for b in series] == [1, 0, 0]
    assert rebuilt.to_stats()["total_requests"] == 4
    assert rebuilt.send_window == pytest.approx(2.1)


def test_run_level_keys_and_metric_keys_are_all_reported():
    from llmeter_widget.stats import AGGREGATIONS, METRICS, RUN_KEYS

    keys = set(RunningStats().to_stats())
    assert set(RUN_KEYS) <= keys
    assert {f"{m}-{a}" for m in METRICS for a in AGGREGATIONS} <= keys


# -- throughput counts successful requests only ------------------------------------------------
def test_throughput_counts_successful_requests_only():
    # 4 clients, every request takes exactly 0.5 s, every other one fails (a broken stream that
    # kept 7 tokens): 8 finished requests a second, 4 of them successful. So 240 req/min,
    # 4 * 10 = 40 output tok/s and 4 * 5 * 60 = 1200 input tok/min; the failed requests' tokens
    # stay in the totals (llmeter's meaning) but not in the rates.
    for waves in (1, 3, 50):
        stats = steady_closed_loop(waves, failing_clients=(1, 3)).to_stats()
        n = 4 * waves
        assert stats["requests_per_minute"] == pytest.approx(240, rel=0.01), waves
        assert stats["output_tps"] == pytest.approx(40, rel=0.01), waves
        assert stats["average_output_tokens_per_minute"] == pytest.approx(2400, rel=0.01), waves
        assert stats["average_input_tokens_per_minute"] == pytest.approx(1200, rel=0.01), waves
        counts = (stats["total_requests"], stats["successful_requests"], stats["failed_requests"])
        assert counts == (n, n // 2, n // 2)
        assert stats["total_output_tokens"] == (n // 2) * 10 + (n // 2) * 7
        assert stats["total_input_tokens"] == n * 5


def test_all_failed_reads_zero_and_nothing_finished_reads_none():
    rs = RunningStats(clock=FakeClock(0.0))
    rs.record_send(0.0)
    rs.record_send(0.001)
    in_flight = rs.to_stats()  # sent, nothing finished: no rate at all ("—")
    assert in_flight["requests_per_minute"] is None and in_flight["output_tps"] is None
    # both fail within a millisecond (a closed port): without the fix, ~60,000 req/min
    rs.update(response(0.0, None, 0.001, tokens=None, tokens_in=None, error_type="connect"))
    rs.update(response(0.001, None, 0.001, tokens=None, tokens_in=None, error_type="connect"))
    stats = rs.to_stats()
    for key in ("requests_per_minute", "output_tps", "average_input_tokens_per_minute",
                "average_output_tokens_per_minute"):
        assert stats[key] == 0, key
    assert stats["total_requests"] == stats["failed_requests"] == 2
    assert stats["successful_requests"] == 0


def test_merged_stats_keep_the_successful_tokens_apart():
    a, b = RunningStats(clock=FakeClock(0.0)), RunningStats(clock=FakeClock(0.0))
    for rs, send, err in ((a, 0.0, None), (b, 0.0, None), (b, 0.5, "http_5xx")):
        rs.record_send(send)
        rs.update(response(send, 0.1, 0.5, tokens=10, error_type=err))
    a.merge(b)
    stats = a.to_stats()
    # window 0.5 s + mean duration 0.5 s = 1 s; 2 successes of 10 tokens, one failure
    assert stats["requests_per_minute"] == pytest.approx(120)
    assert stats["output_tps"] == pytest.approx(20)
    assert stats["average_input_tokens_per_minute"] == pytest.approx(2 * 5 * 60)
    assert (stats["total_requests"], stats["successful_requests"]) == (3, 2)


def test_series_buckets_count_successes_and_failures_apart():
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock)
    # second 0: one success (4 tokens), one failure (3 tokens kept); second 1: the same
    for t, err in ((0.2, None), (0.4, "broken_stream"), (1.5, None), (1.7, "broken_stream")):
        rs.record_send(t - 0.1)
        clock.t = t
        rs.update(response(t - 0.1, 0.05, 0.1, tokens=3 if err else 4, error_type=err))
    clock.t = 2.1
    series = rs.snapshot()["series"]
    assert [b["completed"] for b in series] == [1, 1]
    assert [b["failed"] for b in series] == [1, 1]
    assert [b["output_tokens"] for b in series] == [4, 4]
    # one success a second: 60 req/min and 4 tok/s, however many failed beside it
    assert [b["requests_per_minute"] for b in series] == [pytest.approx(60), pytest.approx(60)]
    assert [b["output_tps"] for b in series] == [pytest.approx(4), pytest.approx(4)]


# -- the live window: p50/p90 of the last `window` seconds from per-second sketches ---------------
def window_values(responses, t, window):
    """TTFTs and TTLTs of the responses that ended in seconds t - window + 1 .. t."""
    kept = [r for r in responses if t - window + 1 <= math.floor(r.t_end) <= t]
    return ([r.time_to_first_token for r in kept if r.time_to_first_token is not None],
            [r.time_to_last_token for r in kept if r.time_to_last_token is not None])


def assert_series_within_sketch_error(responses, low_memory, window):
    """Feed the responses in end order (the clock starts at 0), close the series and check
    every bucket's live percentiles against numpy's linear ones over the same responses."""
    clock = FakeClock(0.0)
    rs = RunningStats(low_memory=low_memory, clock=clock, window=window)
    for r in sorted(responses, key=lambda r: r.t_end):
        clock.t = r.t_end
        rs.update(r)
    series = rs.snapshot(final=True)["series"]
    assert [b["t"] for b in series] == list(range(len(series)))
    for bucket in series:
        ttfts, ttlts = window_values(responses, bucket["t"], window)
        for name, values in (("ttft", ttfts), ("ttlt", ttlts)):
            for q in (50, 90):
                live = bucket[f"{name}_p{q}"]
                if not values:
                    assert live is None, (bucket["t"], name, q)
                    continue
                exact = float(np.percentile(values, q))
                # DDSketch's stated accuracy, relative to the value (+ float rounding)
                assert abs(live - exact) <= SKETCH_RELATIVE_ACCURACY * exact + 1e-12, (
                    bucket["t"], name, q, live, exact, len(values))


def test_interpolated_sketch_percentile_reads_the_right_ranks():
    # values 10% apart, one per sketch bin: a rank read one off (e.g. (k / (n-1)) * (n-1)
    # rounding to just below k, as it does for k=24, n=48) is 5-10% off, not 1%
    for n in range(1, 130):
        values = [1.1 ** i for i in range(n)]
        dist = Distribution(exact=False)
        for v in values:
            dist.add(v)
        for q in (0, 1, 25, 50, 75, 90, 99, 100):
            exact = float(np.percentile(values, q))
            got = dist.interpolated_percentile(q)
            assert abs(got - exact) <= SKETCH_RELATIVE_ACCURACY * exact + 1e-12, (n, q, got, exact)
    assert Distribution(exact=False).interpolated_percentile(50) is None


def timed_response(end, ttft, ttlt, failed=False):
    send = end - ttlt
    r = InvocationResponse(t_send=send, t_first_token=None if ttft is None else send + ttft,
                           t_last_token=end, t_end=end, num_tokens_output=8)
    if failed:
        r.error, r.error_type = "boom", "broken_stream"
    return r.finalize()


@settings(max_examples=80, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0.0, 14.999), st.floats(1e-4, 30.0), st.floats(0.0, 60.0),
                  st.booleans(), st.booleans()),
        min_size=1, max_size=300),
    window=st.sampled_from([1, 3, 10]),
    low_memory=st.booleans(),
)
def test_live_window_percentiles_are_within_the_sketch_error(data, window, low_memory):
    # (end, ttft, extra, no first token, failed): a failed request keeps its TTFT, no TTLT
    responses = [timed_response(end, None if no_token else ttft, ttft + extra, failed)
                 for end, ttft, extra, no_token, failed in data]
    assert_series_within_sketch_error(responses, low_memory, window)


@pytest.mark.parametrize("low_memory", [True, False], ids=["low-memory", "exact"])
def test_live_window_percentiles_at_a_high_rate(low_memory):
    # 20 s at 1,000 responses a second, heavy-tailed latencies: thousands of values per window
    rng = np.random.default_rng(11)
    ends = np.sort(rng.uniform(0, 20, 20_000))
    ttfts = rng.lognormal(-2.0, 0.8, ends.size)
    ttlts = ttfts + rng.lognormal(0.0, 0.6, ends.size)
    responses = [timed_response(float(e), float(f), float(l)) for e, f, l in zip(ends, ttfts, ttlts)]
    assert_series_within_sketch_error(responses, low_memory, window=10)


def test_live_window_forgets_what_a_long_silence_left_behind():
    # history shorter than the window: the jump over a silence closes only a few seconds, and
    # the latencies from before it must not show in the seconds after it
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock, history_limit=3, window=10.0)
    clock.t = 0.5
    rs.update(timed_response(0.5, 0.1, 0.2))
    clock.t = 10_000.0
    series = rs.snapshot()["series"]
    assert [b["t"] for b in series] == [9_997, 9_998, 9_999]
    assert all(b[k] is None for b in series for k in ("ttft_p50", "ttft_p90", "ttlt_p50", "ttlt_p90"))


# -- the table's "last N s": every per-request metric over the window's per-second sketches ------
from llmeter_widget.metrics import AGGREGATIONS, REQUEST_METRICS  # noqa: E402

# Keys a table may show beyond p50/p90/p99 (Dashboard.add_stat asks the run for them).
EXTRA_KEYS = ("time_to_first_token-p95", "inter_token_latency-p99.9", "time_to_last_token-p5")


def rich_response(end, ttft, extra, tokens, failed=False, reasoning=False, error="broken_stream"):
    """A streamed response with every per-request metric: second token, first content (and
    reasoning) token, a gap per token, input and output tokens."""
    ttlt = ttft + extra
    send = end - ttlt
    gaps = [extra / max(1, tokens - 1)] * max(0, tokens - 1)
    r = InvocationResponse(
        t_send=send, t_first_token=send + ttft, t_last_token=end, t_end=end,
        t_second_token=send + ttft + gaps[0] if gaps else None,
        t_first_reasoning_token=send + ttft if reasoning else None,
        t_first_content_token=send + ttft + (gaps[0] if reasoning and gaps else 0.0),
        inter_token_latencies=gaps, num_tokens_output=tokens, num_tokens_input=3 + tokens % 7,
        token_source="usage",
    )
    if failed:
        r.error, r.error_type = "boom", error
    return r.finalize()


def metric_values(responses, metric):
    values = []
    for r in responses:
        value = getattr(r, metric.source or metric.key, None)
        if value is None:
            continue
        values.extend(value if metric.many else [value])
    return values


def assert_window_matches_numpy(responses, now, window, low_memory=False):
    """Feed the responses in end order, snapshot at `now`, and hold every window figure to
    numpy (percentiles within the sketch's 1%) and to counts of the responses that ended in
    the window's closed seconds."""
    clock = FakeClock(0.0)
    rs = RunningStats(low_memory=low_memory, clock=clock, window=window)
    rs.request_keys(EXTRA_KEYS)
    rs.want_window_stats = True
    for r in sorted(responses, key=lambda r: r.t_end):
        clock.t = r.t_end
        rs.update(r)
    clock.t = now
    window_stats = rs.snapshot()["window_stats"]
    got = window_stats["stats"]
    closed = math.floor(now)  # seconds 0 .. closed - 1 are closed
    first = max(0, closed - window)
    kept = [r for r in responses if first <= math.floor(r.t_end) < closed]
    covered = closed - first
    assert (window_stats["seconds"], window_stats["covered"]) == (window, covered)
    ok = [r for r in kept if r.ok]
    assert got["total_requests"] == len(kept)
    assert got["failed_requests"] == len(kept) - len(ok)
    assert got["successful_requests"] == len(ok)
    assert got["failed_requests_rate"] == (pytest.approx((len(kept) - len(ok)) / len(kept))
                                           if kept else None)
    if any(not r.ok for r in responses):  # a class the run saw: counted in the window, 0 too
        assert got["errors-broken_stream"] == len(kept) - len(ok)
    else:
        assert "errors-broken_stream" not in got
    out_tokens = sum(r.num_tokens_output for r in ok)
    if covered:
        assert got["requests_per_minute"] == pytest.approx(len(ok) * 60 / covered)
        assert got["output_tps"] == pytest.approx(out_tokens / covered)
    else:
        assert got["requests_per_minute"] is None and got["output_tps"] is None
    assert got["total_output_tokens"] == sum(r.num_tokens_output for r in kept)
    wanted = [(m, agg, f"{m.key}-{agg}") for m in REQUEST_METRICS for agg in AGGREGATIONS]
    wanted += [(next(m for m in REQUEST_METRICS if key.startswith(m.key + "-")),
                key.rsplit("-", 1)[1], key) for key in EXTRA_KEYS]
    for metric, agg, key in wanted:
        values = metric_values(kept, metric)
        live = got[key]
        if not values:
            assert live is None, key
            continue
        if agg == "average":
            exact = float(np.mean(values))
            assert live == pytest.approx(exact, rel=1e-9, abs=1e-12), key
        else:
            exact = float(np.percentile(values, float(agg[1:])))
            assert abs(live - exact) <= SKETCH_RELATIVE_ACCURACY * exact + 1e-12, (
                key, live, exact, len(values))
    # keys with no meaning over a window are left out (the table shows "—")
    assert "send_window" not in got and "event_loop_lag_max" not in got
    return rs, got


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0.0, 24.999), st.floats(1e-3, 5.0), st.floats(1e-3, 30.0),
                  st.integers(1, 40), st.booleans(), st.booleans()),
        min_size=1, max_size=150),
    window=st.sampled_from([1, 3, 10]),
    after=st.floats(0.0, 14.0),
    low_memory=st.booleans(),
)
def test_window_stats_are_numpys_over_the_last_seconds(data, window, after, low_memory):
    # (end, ttft, extra, tokens, failed, reasoning); snapshot `after` seconds past the last end
    responses = [rich_response(end, ttft, extra, tokens, failed, reasoning)
                 for end, ttft, extra, tokens, failed, reasoning in data]
    now = max(r.t_end for r in responses) + after
    assert_window_matches_numpy(responses, now, window, low_memory)


@pytest.mark.parametrize("low_memory", [True, False], ids=["low-memory", "exact"])
def test_window_stats_at_a_high_rate_and_their_cost_stays_flat(low_memory):
    # 30 s at 1,000 responses a second, heavy-tailed: 10,000 responses (and ~200,000 token gaps)
    # in the window; the TTFT rises after 20 s, which the window sees and the whole run dilutes
    rng = np.random.default_rng(5)
    ends = np.sort(rng.uniform(0, 30, 30_000))
    ttfts = rng.lognormal(-2.0, 0.8, ends.size) * np.where(ends >= 20, 5.0, 1.0)
    extras = rng.lognormal(0.0, 0.6, ends.size)
    tokens = rng.integers(2, 40, ends.size)
    failed = rng.random(ends.size) < 0.02
    responses = [rich_response(float(e), float(f), float(x), int(n), bool(b))
                 for e, f, x, n, b in zip(ends, ttfts, extras, tokens, failed)]
    rs, got = assert_window_matches_numpy(responses, 30.5, 10, low_memory)
    whole = rs.to_stats()
    assert got["time_to_first_token-p50"] > 3 * whole["time_to_first_token-p50"]
    # what a read costs does not depend on the responses: the per-second sketches are merged
    import time

    started = time.perf_counter()
    for _ in range(5):
        rs._window_cache = None
        rs.window_stats()["stats"]
    per_read = (time.perf_counter() - started) / 5
    assert per_read < 0.05, f"window_stats() took {per_read * 1e3:.1f} ms"


def test_window_stats_are_read_once_per_closed_second_and_only_when_asked():
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock, window=10)
    clock.t = 0.5
    assert rs.snapshot()["window_stats"] is None  # no view asked
    rs.want_window_stats = True  # before the first response: the run's first second is whole
    clock.t = 1.5
    rs.update(rich_response(1.5, 0.1, 0.4, 8))
    clock.t = 2.2
    first = rs.snapshot()["window_stats"]
    assert first["stats"]["total_requests"] == 1
    assert (first["seconds"], first["covered"]) == (10, 2)
    assert rs.snapshot()["window_stats"] is first  # the same second: not read again
    rs.request_keys(["time_to_first_token-p95"])  # a table asks for a new percentile: read again
    assert rs.snapshot()["window_stats"]["stats"]["time_to_first_token-p95"] == pytest.approx(
        0.1, rel=0.01)
    clock.t = 3.1
    rs.update(rich_response(3.1, 0.2, 0.4, 8, failed=True, error="timeout"))
    clock.t = 4.0
    later = rs.snapshot()["window_stats"]["stats"]
    assert later["total_requests"] == 2 and later["errors-timeout"] == 1
    # a cancelled request (Stop) counts as cancelled in its second, not as a request
    cancelled = rich_response(4.5, 0.2, 0.4, 8, failed=True, error="cancelled")
    clock.t = 4.5
    rs.update(cancelled)
    clock.t = 5.0
    window = rs.snapshot()["window_stats"]["stats"]
    assert (window["total_requests"], window["cancelled_requests"]) == (2, 1)


def test_a_window_asked_for_mid_run_covers_the_seconds_recorded_whole_since():
    """Until a view asks, the window records only the charts' TTFT and TTLT (and the counts):
    every other metric costs a sketch insertion per value. Asked for mid-run, its figures
    cover the seconds recorded whole since, growing to the window's length."""
    clock = FakeClock(0.0)
    rs = RunningStats(clock=clock, window=3)

    def second(t):  # two responses in second t
        for k in (0.2, 0.7):
            clock.t = t + k
            rs.update(rich_response(t + k, 0.1 + t / 100, 0.4, 8))

    for t in range(4):
        second(t)
    clock.t = 4.2
    rs.update(rich_response(4.2, 0.14, 0.4, 8))
    assert not rs._live._open._waiting["time_per_output_token"]  # not recorded
    assert len(rs._live._open._waiting["time_to_first_token"]) == 1  # the charts' TTFT is
    rs.want_window_stats = True  # mid-second: second 4 is not recorded whole
    clock.t = 4.7
    rs.update(rich_response(4.7, 0.14, 0.4, 8))
    covered = []
    for t in range(5, 10):
        clock.t = float(t)
        window = rs.snapshot()["window_stats"]  # second t - 1 closed
        covered.append(window["covered"])
        stats = window["stats"]
        assert stats["total_requests"] == 2 * window["covered"]
        if window["covered"]:
            assert stats["time_per_output_token-p50"] is not None
            oldest, newest = t - window["covered"], t - 1  # their TTFTs: 0.1 + second / 100
            assert 0.99 * (0.1 + oldest / 100) <= stats["time_to_first_token-p50"] <= 1.01 * (
                0.1 + newest / 100)
        second(t)
    assert covered == [0, 1, 2, 3, 3]
    # and the charts' TTFT never stopped: each bucket has its p50 over the last 3 s
    assert all(b["ttft_p50"] is not None for b in rs.series(0))
    rs.want_window_stats = False
    assert rs.snapshot()["window_stats"] is None
