"""Calling into an event loop from another thread.

In JupyterLab 4 with ipykernel 7, a widget's comm messages (a slider move, a button) may be
handled on a *subshell* thread that runs its own asyncio loop, not on the kernel's main loop
where the run lives. asyncio objects (tasks, events, aiohttp sessions) belong to one loop, so a
control that reaches the run from elsewhere must be handed over to the run's loop.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def call_on(loop: asyncio.AbstractEventLoop | None, fn: Callable[..., Any], *args: Any) -> bool:
    """Hand `fn(*args)` to `loop` if the caller is on another loop (or none); True if handed over.

    False means the caller is on `loop` (or `loop` is None or closed): it should call `fn` itself.

    Example:
        >>> call_on(None, print, "called here")
        False
    """
    if loop is None or loop.is_closed() or running_loop() is loop:
        return False
    loop.call_soon_threadsafe(fn, *args)
    return True
