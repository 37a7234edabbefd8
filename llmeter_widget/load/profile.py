"""How much load, over time: a rate (requests per second) or a client count as a piecewise-linear
function of the seconds since a run's start.

A run's load is a number (held for the whole run), a `Ramp` (linear from one value to another
over some seconds, then held) or `Steps` (each value held for some seconds; the last one after
that). `LoadProfile` is what they become: knots `(seconds, value)` joined by straight lines, with
two knots at the same time for a jump. A live change (`runner.set_rate`) holds a new value from
a given time on (`hold_from`).

For an open loop the profile is a rate and its integral (`area`) is the expected number of
requests up to a time; the schedule sends request k when that integral reaches the k-th sum of
unit-mean gaps (`time_for_area`): an inhomogeneous Poisson process (or constant, or gamma)
exactly, whatever the ramps, steps and live changes.

Example:
    >>> p = LoadProfile.of(Ramp(0, 10, over=10))     # 0 to 10 req/s over 10 s
    >>> p.value_at(5), p.area(10), p.time_for_area(50.0), p.length
    (5.0, 50.0, 10.0, 10.0)
    >>> LoadProfile.of([(10, 2), (5, 8)]).value_at(12)  # steps: 2 for 10 s, then 8
    8.0
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union


@dataclass(frozen=True)
class Ramp:
    """From `start` to `end` linearly over `over` seconds, then `end` for the rest of the run.

    Example: `Runner.run(rate=Ramp(1, 50, over=60), run_duration=90)` goes from 1 to 50
    requests per second in the first minute and stays at 50 for the last 30 s;
    `clients=Ramp(1, 32, over=120)` adds clients the same way.
    """

    start: float
    end: float
    over: float

    def to_config(self) -> dict[str, Any]:
        return {"ramp": {"start": self.start, "end": self.end, "over": self.over}}


@dataclass(frozen=True)
class Steps:
    """Each `(seconds, value)` held for its seconds, in order; the last value after them.

    Example: `Runner.run(rate=Steps([(30, 5), (30, 10), (30, 20)]))` (a plain list of pairs
    works too) runs 90 s: 5, then 10, then 20 requests per second.
    """

    steps: tuple[tuple[float, float], ...]

    def __init__(self, steps: Sequence[Sequence[float]]) -> None:
        object.__setattr__(self, "steps", tuple((s[0], s[1]) for s in steps))

    def to_config(self) -> dict[str, Any]:
        return {"steps": [list(s) for s in self.steps]}


# what `rate=` and `clients=` accept
LoadShape = Union[float, int, Ramp, Steps, Sequence[Sequence[float]]]


def _number(value: Any, what: str, minimum: float = 0.0, strict: bool = False) -> float:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) \
        or not math.isfinite(value) or value < minimum or (strict and value <= minimum)
    if bad:
        sign = ">" if strict else ">="
        raise ValueError(f"{what} must be a number {sign} {minimum:g}, got {value!r}.")
    return float(value)


class LoadProfile:
    """A value over time: knots `(t, v)` joined linearly, the last value held after them.

    Build one with `LoadProfile.of(shape, what)`, from a number, a `Ramp`, `Steps` or a list of
    `(seconds, value)` pairs; `what` ("rate" or "clients") names the argument in errors.
    """

    def __init__(self, knots: Sequence[tuple[float, float]]) -> None:
        self.knots: list[tuple[float, float]] = [(float(t), float(v)) for t, v in knots]
        self._index()

    @classmethod
    def of(cls, shape: Any, what: str = "rate") -> LoadProfile:
        if isinstance(shape, LoadProfile):
            return shape
        if isinstance(shape, dict) and isinstance(shape.get("knots"), list):  # to_config()'s
            return cls([(float(t), _number(v, what)) for t, v in shape["knots"]])
        if isinstance(shape, Ramp):
            start = _number(shape.start, f"{what} Ramp start")
            end = _number(shape.end, f"{what} Ramp end")
            over = _number(shape.over, f"{what} Ramp over= (seconds)", strict=True)
            if max(start, end) <= 0:
                raise ValueError(f"{what} Ramp({shape.start}, {shape.end}) never sends: give it "
                                 f"an end > 0.")
            return cls([(0.0, start), (over, end)])
        if isinstance(shape, (list, tuple, Steps)):
            steps = shape.steps if isinstance(shape, Steps) else shape
            if not steps or not all(isinstance(s, (list, tuple)) and len(s) == 2 for s in steps):
                raise ValueError(f"{what} steps must be a non-empty list of (seconds, {what}) "
                                 f"pairs, e.g. [(30, 5), (30, 10)], got {shape!r}.")
            knots, t = [], 0.0
            for seconds, value in steps:
                seconds = _number(seconds, f"a {what} step's seconds", strict=True)
                value = _number(value, f"a {what} step's {what}")
                knots += [(t, value), (t + seconds, value)]
                t += seconds
            if steps[-1][1] <= 0:
                raise ValueError(f"the last {what} step is 0, so the run would wait for ever: "
                                 f"end with a {what} > 0 (or give run_duration= to stop there).")
            return cls(knots)
        return cls([(0.0, _number(shape, what, strict=True))])

    # -- reading ---------------------------------------------------------------------------------
    @property
    def length(self) -> float:
        """Seconds until the last knot: where the shape ends (0 for a constant)."""
        return self.knots[-1][0]

    @property
    def constant(self) -> bool:
        return all(v == self.knots[0][1] for _, v in self.knots)

    def value_at(self, t: float) -> float:
        """The value at `t` seconds (after a jump at `t`: the new value)."""
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0:
            return self.knots[0][1]
        if i >= len(self.knots) - 1:
            return self.knots[-1][1]
        (t0, v0), (t1, v1) = self.knots[i], self.knots[i + 1]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    def area(self, t: float) -> float:
        """The integral of the value from 0 to `t` (for a rate: requests expected by `t`)."""
        if t <= 0:
            return 0.0
        i = max(0, bisect.bisect_right(self._times, t) - 1)
        if i >= len(self.knots) - 1:
            t0, v0 = self.knots[-1]
            return self._areas[-1] + v0 * (t - t0)
        (t0, v0), (t1, v1) = self.knots[i], self.knots[i + 1]
        dt = t - t0
        return self._areas[i] + v0 * dt + 0.5 * (v1 - v0) / (t1 - t0) * dt * dt

    def time_for_area(self, area: float) -> float:
        """The first time the integral reaches `area` (math.inf if it never does)."""
        if area <= 0:
            return 0.0
        i = bisect.bisect_left(self._areas, area) - 1
        if i >= len(self.knots) - 1 or i < 0:
            t0, v0 = self.knots[-1]
            left = area - self._areas[-1]
            return t0 + left / v0 if v0 > 0 else math.inf
        (t0, v0), (t1, v1) = self.knots[i], self.knots[i + 1]
        left = area - self._areas[i]
        slope = (v1 - v0) / (t1 - t0)
        if abs(slope) < 1e-12:
            return t0 + left / v0
        # v0*dt + slope/2*dt^2 = left; the root in [0, t1 - t0] (stable form, no cancellation)
        disc = max(v0 * v0 + 2 * slope * left, 0.0)
        return t0 + 2 * left / (v0 + math.sqrt(disc))

    # -- changing --------------------------------------------------------------------------------
    def hold_from(self, t: float, value: float) -> None:
        """From `t` on, hold `value` (a live change: what came before `t` stays as it was)."""
        kept = [(kt, kv) for kt, kv in self.knots if kt < t]
        before = self.value_at(t) if t > 0 else value
        self.knots = [*kept, (t, before), (t, value)] if t > 0 else [(0.0, value)]
        self._index()

    def to_config(self) -> Any:
        """A number for a constant, else the knots (run_config.json / run_status.json)."""
        if len(self.knots) == 1:
            return self.knots[0][1]
        return {"knots": [list(k) for k in self.knots]}

    def _index(self) -> None:
        self.knots.sort(key=lambda k: k[0])
        self._times = [t for t, _ in self.knots]
        areas = [0.0]
        for (t0, v0), (t1, v1) in zip(self.knots, self.knots[1:]):
            areas.append(areas[-1] + 0.5 * (v0 + v1) * (t1 - t0))
        self._areas = areas
