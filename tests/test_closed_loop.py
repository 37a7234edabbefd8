"""The closed-loop clients (load/closed_loop.py) on their own: what they report as they run."""

from __future__ import annotations

import asyncio
import time

from llmeter_widget.endpoints import InvocationResponse
from llmeter_widget.load import ClosedLoop

from .waiting import eventually


class Slow:
    """An endpoint whose every answer takes 0.05 s."""

    async def invoke(self, session, payload):
        await asyncio.sleep(0.05)
        return InvocationResponse(response_text="ok")


async def test_each_change_of_the_active_clients_is_reported_once():
    reported = []
    loop = ClosedLoop(Slow(), None, [{}], target=2, deadline=time.perf_counter() + 60,
                      on_clients=reported.append)
    loop.start()
    assert reported == [2]
    loop.set_target(4)  # grows at once
    assert reported == [2, 4]
    loop.set_target(1)  # shrinks: the 3 removed clients finish their request
    assert reported == [2, 4, 1]
    await eventually(lambda: sum(not t.done() for t in loop._tasks.values()) == 1,
                     "the removed clients to finish")
    assert reported == [2, 4, 1]  # their ends change nothing: not reported again
    loop.set_target(1)  # no change, no report
    loop.stop()
    await loop.wait()
    assert reported == [2, 4, 1, 0]
    loop.set_target(3)  # stopped: no client runs, the count stays 0: nothing to report
    assert reported == [2, 4, 1, 0]
