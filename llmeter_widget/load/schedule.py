"""When an open-loop run sends: the gaps between intended send times, for a rate.

A schedule is independent of the responses (an open loop): request k is due at
`start + gap_1 + ... + gap_k` however slow the server is. Three arrival processes, each seeded:

- "constant": every gap is `1 / rate` (coefficient of variation 0);
- "poisson": exponential gaps of mean `1 / rate` (CV 1), independent arrivals of many users;
- "gamma": gamma gaps of mean `1 / rate`, shape `burstiness` (CV `1 / sqrt(burstiness)`):
  burstiness < 1 sends in bursts, > 1 more evenly than Poisson, 1 is Poisson (vLLM's
  `bench serve --burstiness` has the same meaning).

The rate may follow a `Ramp` or `Steps` (load/profile.py) and change while the run goes on.

Example:
    >>> ArrivalSchedule(rate=4.0, arrival="constant").offsets(3)
    [0.0, 0.25, 0.5]
    >>> a, b = ArrivalSchedule(10.0, "poisson", seed=1), ArrivalSchedule(10.0, "poisson", seed=1)
    >>> a.offsets(3) == b.offsets(3)
    True
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from .profile import LoadProfile, Ramp  # noqa: F401 (Ramp: the docstrings' examples)

ARRIVALS = ("constant", "poisson", "gamma")
# Above this median lateness (seconds) the generator did not keep its schedule.
SCHEDULE_LAG_WARNING = 0.010


def check_rate(rate: object) -> float:
    """A rate in requests per second: a finite number > 0, or a clear error."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) \
            or rate <= 0:
        raise ValueError(f"rate must be a number of requests per second > 0, got {rate!r}.")
    return float(rate)


def schedule_warning(stats: Mapping[str, Any]) -> str | None:
    """What every view says when an open-loop run's load was not what was asked for (None when
    it was, or for a closed loop): requests went out late (`schedule_lag-p50` above
    SCHEDULE_LAG_WARNING), or waited for a `max_concurrency` slot.

    Example:
        >>> schedule_warning({"schedule_lag-p50": 0.002, "concurrency_wait-p90": 0.0}) is None
        True
        >>> print(schedule_warning({"schedule_lag-p50": 0.5, "concurrency_wait-p90": 0.45}))
        Schedule not kept: requests went out 500 ms late (p50), 90% waited up to 450 ms for a max_concurrency slot; the load was lower than asked.
    """
    lag = stats.get("schedule_lag-p50")
    wait = stats.get("concurrency_wait-p90")
    parts = []
    if isinstance(lag, (int, float)) and lag > SCHEDULE_LAG_WARNING:
        parts.append(f"requests went out {lag * 1000:.0f} ms late (p50)")
    if isinstance(wait, (int, float)) and wait > 0.001:
        parts.append(f"90% waited up to {wait * 1000:.0f} ms for a max_concurrency slot")
    if not parts:
        return None
    return f"Schedule not kept: {', '.join(parts)}; the load was lower than asked."


class ArrivalSchedule:
    """When each request of an open loop is due, in seconds from the run's start.

    Request k is due when the rate's integral (`LoadProfile.area`) reaches the sum of k
    unit-mean gaps drawn from the arrival process (request 0 at once): at a constant rate that
    is gaps of mean `1 / rate`; under a ramp, steps or a live `set_rate` the same draws stretch
    and shrink with the rate (the time-rescaling of a Poisson process). Because the draws never
    depend on the rate, worker processes holding the same schedule (same seed) agree on every
    due time, changes included: worker w of n sends requests w, w + n, w + 2n, ...

    Args:
        rate: requests per second: a number, a `Ramp`, `Steps` or `(seconds, rate)` pairs.
        arrival: "constant", "poisson" or "gamma".
        burstiness: the gamma shape (> 0; only with arrival="gamma"): 1 is Poisson, smaller is
            burstier (CV 1/sqrt(burstiness)).
        seed: seeds the gaps: the same seed, rate and arrival give the same schedule.

    Example:
        >>> [round(t, 3) for t in ArrivalSchedule(Ramp(0, 10, over=10), "constant").offsets(4)]
        [0.0, 1.414, 2.0, 2.449]
    """

    def __init__(self, rate: Any, arrival: str = "poisson", burstiness: float = 1.0,
                 seed: int | None = None) -> None:
        if arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(map(repr, ARRIVALS))}, "
                             f"got {arrival!r}.")
        if isinstance(burstiness, bool) or not isinstance(burstiness, (int, float)) \
                or not math.isfinite(burstiness) or burstiness <= 0:
            raise ValueError(f"burstiness must be a number > 0, got {burstiness!r}.")
        if burstiness != 1.0 and arrival != "gamma":
            raise ValueError(f"burstiness={burstiness!r} shapes gamma arrivals: pass "
                             f"arrival='gamma' with it (arrival={arrival!r} has no burstiness).")
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            check_rate(rate)
        self.profile = LoadProfile.of(rate, "rate")
        self.arrival = arrival
        self.burstiness = float(burstiness)
        self.seed = seed
        self._random = random.Random(seed)
        self.index = 0  # the next request's number
        self._area = 0.0  # the rate's integral at which it is due

    @property
    def rate(self) -> float:
        """The rate at the start, or the last one set (requests per second)."""
        return self.profile.knots[-1][1]

    def rate_at(self, offset: float) -> float:
        return self.profile.value_at(offset)

    def set_rate(self, rate: float, at: float) -> None:
        """Send at `rate` from `at` seconds after the start on (what is due before stays)."""
        self.profile.hold_from(max(at, 0.0), check_rate(rate))

    def next_offset(self) -> float:
        """When the next request is due, seconds after the start (math.inf: never); with the
        rate as it is now, so ask again after a `set_rate`."""
        return self.profile.time_for_area(self._area)

    def advance(self) -> None:
        """The next request is taken: move on to the one after it."""
        self._area += self._unit_gap()
        self.index += 1

    def offsets(self, n: int) -> list[float]:
        """The next `n` due times (seconds after the start), taken.

        Example:
            >>> ArrivalSchedule(4.0, "constant").offsets(3)
            [0.0, 0.25, 0.5]
        """
        out = []
        for _ in range(n):
            out.append(self.next_offset())
            self.advance()
        return out

    def _unit_gap(self) -> float:
        """A gap of mean 1 (in requests: the rate turns it into seconds)."""
        if self.arrival == "constant":
            return 1.0
        if self.arrival == "poisson":
            return self._random.expovariate(1.0)
        return self._random.gammavariate(self.burstiness, 1.0 / self.burstiness)

    def to_config(self) -> dict[str, object]:
        """What run_config.json records of it."""
        return {"rate": self.profile.to_config(), "arrival": self.arrival,
                "burstiness": self.burstiness, "seed": self.seed}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ArrivalSchedule:
        """The schedule a run_config.json describes, from its start (the rate as it was run,
        live changes included): the same intended send times, request for request.

        Example:
            >>> s = ArrivalSchedule(Ramp(1, 5, over=2), "poisson", seed=7)
            >>> ArrivalSchedule.from_config(s.to_config()).offsets(5) == s.offsets(5)
            True
        """
        return cls(LoadProfile.of(config["rate"]), config.get("arrival", "poisson"),
                   config.get("burstiness", 1.0), config.get("seed"))
