"""Waiting for a condition, not for a time: tests poll until a deadline instead of sleeping.

A fixed sleep guesses how long something takes; on a busy 2-core machine the guess is wrong
now and then and the test fails for no reason, or it is long enough to hide a slow bug. A
poll returns as soon as the condition holds, and its deadline is generous because reaching
it is already a failure.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable


def _describe(what: str, describe: Callable[[], object] | None) -> str:
    return f"{what}; state: {describe()!r}" if describe else what


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 15.0,
                     describe: Callable[[], object] | None = None) -> None:
    """Wait (on the event loop, so a run goes on meanwhile) until `condition()` is true.

    Raises AssertionError naming `what` (and `describe()`, the state seen last) at the deadline.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {_describe(what, describe)}")
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0,
               describe: Callable[[], object] | None = None,
               pause: Callable[[float], object] = time.sleep, interval: float = 0.02) -> None:
    """The blocking `eventually`, for tests that drive another process.

    `pause(interval)` waits between two looks: a browser test passes one that lets Playwright
    work meanwhile (`lambda s: page.wait_for_timeout(s * 1000)`); `time.sleep` would hold up
    the page's routed requests and events until the next Playwright call.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {_describe(what, describe)}")
        pause(interval)
