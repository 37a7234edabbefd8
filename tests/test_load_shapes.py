"""Load that changes over a run (ramps, steps, live rate changes) and open loops sent from
worker processes: checked where the requests land (tests/arrival_server.py, its own process,
the same perf_counter clock) and against the schedule rebuilt from run_config.json."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest

from llmeter_widget import Ramp, Runner, Steps
from llmeter_widget.endpoints import OpenAIChatEndpoint
from llmeter_widget.load import ArrivalSchedule, LoadProfile

from .test_open_loop import PAYLOAD, arrival_server, arrivals, runner


# -- the profile's arithmetic ----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [
    7.5,
    Ramp(0, 10, over=4),
    Ramp(30, 2, over=3),
    Steps([(1, 5), (2, 0), (1.5, 20)]),
    [(0.5, 3), (0.5, 9)],
])
def test_time_for_area_inverts_area(shape):
    """The schedule sends request k when the rate's integral reaches the k-th gap sum: the
    inversion must be exact everywhere, across ramps, jumps and pauses (rate 0)."""
    profile = LoadProfile.of(shape)
    for i in range(1, 200):
        area = i * 0.37
        t = profile.time_for_area(area)
        assert profile.area(t) == pytest.approx(area, rel=1e-9, abs=1e-9)
        if t > 0:  # the first such time: just before it, the integral is short of it
            assert profile.area(t - 1e-6) < area


def test_a_live_change_keeps_the_past_and_moves_the_future():
    profile = LoadProfile.of(Ramp(0, 10, over=10))
    before = profile.area(4)
    profile.hold_from(4, 50)
    assert profile.area(4) == pytest.approx(before)  # what was due before 4 s stays
    assert profile.value_at(3) == pytest.approx(3) and profile.value_at(20) == 50
    assert profile.area(5) - profile.area(4) == pytest.approx(50)


def test_worker_shares_of_one_schedule_are_that_schedule():
    """Worker w of n sends requests w, w + n, ...: their due times, merged, are the single
    schedule's, a live change included: each worker hears of it (a change from AT on) only
    when it is about to send past AT, yet moves the same due times."""
    at, n = 1.5, 150

    def schedule() -> ArrivalSchedule:
        return ArrivalSchedule(Ramp(5, 40, over=2), "gamma", burstiness=0.5, seed=11)

    single = schedule()
    single.set_rate(80.0, at=at)  # it changes nothing before AT
    expected = single.offsets(n)
    merged: dict[int, float] = {}
    for worker in range(3):
        mine, changed = schedule(), False
        while mine.index < n:
            if mine.index % 3 == worker:
                if not changed and mine.next_offset() > at:
                    mine.set_rate(80.0, at=at)
                    changed = True
                merged[mine.index] = mine.next_offset()
            mine.advance()
    assert [merged[k] for k in range(n)] == pytest.approx(expected, abs=1e-12)
    assert expected[-1] > at + 0.5  # the change was inside the span compared


# -- where requests land ----------------------------------------------------------------------------
def per_second(landed: list[float]) -> list[int]:
    start = min(landed)
    counts = [0] * (math.floor(max(landed) - start) + 1)
    for t in landed:
        counts[math.floor(t - start)] += 1
    return counts


async def test_rate_steps_and_ramps_land_at_the_rates_asked():
    """Constant arrivals, so each second's count is the rate's integral over it (+-1 for where
    the second's edge cuts a gap)."""
    with arrival_server(ttft=0.002, tokens=2) as url:
        result = await runner(url).run(rate=Steps([(1, 20), (1, 60)]), arrival="constant")
        landed = await arrivals(url)
    assert result.status == "completed" and result.run_duration == 2  # the shape's length
    assert per_second(landed)[:2] == [pytest.approx(20, abs=1), pytest.approx(60, abs=1)]

    with arrival_server(ttft=0.002, tokens=2) as url:
        await runner(url).run(rate=Ramp(10, 50, over=2), arrival="constant")
        landed = await arrivals(url)
    # rate 10 + 20 t: 20 requests in the first second, 40 in the second
    assert per_second(landed)[:2] == [pytest.approx(20, abs=1), pytest.approx(40, abs=1)]


async def test_ramp_seconds_reaches_the_rate_from_zero():
    with arrival_server(ttft=0.002, tokens=2) as url:
        await runner(url).run(rate=60, ramp=1.0, run_duration=2, arrival="constant")
        landed = await arrivals(url)
    # 0 to 60 over 1 s (30 requests), then 60 for a second
    assert per_second(landed)[:2] == [pytest.approx(30, abs=1), pytest.approx(60, abs=1)]


async def test_clients_follow_steps():
    """Closed-loop clients on steps: 1 client, then 3; the server sees at most that many
    requests at once (each takes 0.1 s)."""
    with arrival_server(ttft=0.1, tokens=1) as url:
        run = runner(url)
        result = await run.run(clients=Steps([(0.6, 1), (0.6, 3)]))
    spans = sorted((r.t_send, r.t_end) for r in result.responses if r.ok)

    def most_at_once(t0: float, t1: float) -> int:
        inside = [(a, b) for a, b in spans if t0 <= a < t1]
        return max(sum(1 for a, b in inside if a <= s < b) for s, _ in inside)

    start = spans[0][0]
    assert most_at_once(start, start + 0.5) == 1
    assert most_at_once(start + 0.8, start + 1.2) == 3
    assert result.run_duration == pytest.approx(1.2)


async def test_set_clients_takes_over_from_a_ramp():
    with arrival_server(ttft=0.05, tokens=1) as url:
        run = runner(url)
        task = asyncio.create_task(run.run(clients=Ramp(1, 12, over=1.0), run_duration=1.2))
        while not run.running or run.stats is None or run.stats.sent < 2:
            await asyncio.sleep(0.01)
        run.set_clients(2)
        result = await task
    late = [r for r in result.responses if r.t_send - result.responses[0].t_send > 0.5]
    most = max(sum(1 for b in late if b.t_send <= a.t_send < b.t_end) for a in late)
    assert most <= 2  # the ramp would have had 6-12 clients by now


async def test_open_loop_from_workers_keeps_the_one_schedule_and_a_live_rate(tmp_path):
    """Two worker processes share one seeded Poisson schedule; the rate changes mid-run. Every
    request's intended send time is the one the schedule rebuilt from run_config.json gives
    (the rate as run, change included), and the server sees the new rate after the change."""
    with arrival_server(ttft=0.002, tokens=2) as url:
        r = Runner(OpenAIChatEndpoint(base_url=url, model="m"), PAYLOAD, tmp_path,
                   live_view=False)
        task = asyncio.create_task(r.run(rate=20, arrival="poisson", seed=5, workers=2,
                                         run_duration=2.5))
        while not r.running or r.stats is None or r.stats.sent < 10:
            await asyncio.sleep(0.02)
        r.set_rate(120)
        result = await task
        landed = await arrivals(url)
    assert result.status == "completed" and result.stats["failed_requests"] == 0
    config = json.loads((Path(result.output_path) / "run_config.json").read_text())
    assert config["workers"] == 2 and len(config["rate"]["knots"]) == 3  # 20, then 120
    change = config["rate"]["knots"][-1][0]
    scheduled = sorted(resp.t_scheduled for resp in result.responses)
    start = scheduled[0]  # request 0 is due at the start
    expected = ArrivalSchedule.from_config(config).offsets(len(scheduled))
    assert [t - start for t in scheduled] == pytest.approx(expected, abs=1e-6)
    after = [t for t in landed if t - min(landed) > change + 0.2]
    rate_after = (len(after) - 1) / (after[-1] - after[0])
    assert 80 < rate_after < 170, rate_after  # Poisson at 120/s over ~1.5 s: +-3 sigma ~ 27
    assert result.stats["schedule_lag-p50"] < 0.010


def test_bad_shapes_are_named():
    r = Runner(OpenAIChatEndpoint(base_url="http://127.0.0.1:9/v1", model="m"), PAYLOAD,
               live_view=False)
    cases = [
        (dict(rate=Ramp(1, 5, over=3), ramp=2), "ramp= ramps up to a single rate"),
        (dict(rate=10, ramp=-1), "ramp= is the seconds"),
        (dict(rate=[(1, 5), (2, 0)]), "the last rate step is 0"),
        (dict(rate=[(0, 5)]), "a rate step's seconds must be a number > 0"),
        (dict(rate=Ramp(0, 0, over=3)), "never sends"),
        (dict(clients=[(1, 2), "x"]), "clients steps must be a non-empty list"),
        (dict(rate=10, workers=3, max_concurrency=2, n_requests=5),
         "less than one request in flight per worker"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            r._settings(**options)
