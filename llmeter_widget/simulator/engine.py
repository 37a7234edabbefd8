"""Latency models of the simulated server: when each output token of a request comes out.

Both engines share one async interface: `generate(prompt_tokens, output_tokens, arrival)` is an
async iterator that yields the token indexes 0..output_tokens-1, each at the moment that token is
produced. The HTTP handler writes one chunk per yielded index. Closing the iterator (the client
went away, the handler was cancelled) frees the request's place in the engine at once.

- FixedLatencyEngine: every request on its own, first token exactly `ttft` after arrival, then
  one every `itl`, on absolute deadlines, so timing error does not add up over a long answer.
- BatchingEngine: a continuous-batching model of a vLLM-like server (see its docstring).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Protocol

from .config import SimulatorConfig

# When the batching engine's loop wakes later than its deadline (a busy event loop), it makes up
# at most this much lateness per step; beyond that it starts the next step from "now" instead of
# bursting through a backlog of steps.
MAX_CATCH_UP = 0.02


class Engine(Protocol):
    """What the HTTP handlers need from a latency model."""

    @property
    def active(self) -> int:
        """Requests producing tokens now."""
        ...

    @property
    def queued(self) -> int:
        """Requests waiting for a place."""
        ...

    @property
    def peak_active(self) -> int:
        """The highest `active` seen."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def generate(
        self, prompt_tokens: int, output_tokens: int, arrival: float
    ) -> AsyncIterator[int]:
        """Yield 0..output_tokens-1, each when that token is produced (`arrival`: loop.time())."""
        ...


def make_engine(config: SimulatorConfig) -> Engine:
    """The engine for `config.mode`."""
    if config.mode == "fixed":
        return FixedLatencyEngine(ttft=config.ttft, itl=config.itl)
    return BatchingEngine(
        max_batch=config.max_batch,
        decode_base=config.decode_base,
        decode_per_seq=config.decode_per_seq,
        prefill_base=config.prefill_base,
        prefill_per_token=config.prefill_per_token,
        jitter=config.jitter,
        seed=config.seed,
    )


async def sleep_until(deadline: float) -> None:
    """Sleep until the event loop's clock reads `deadline` (absolute, so no drift adds up)."""
    loop = asyncio.get_running_loop()
    if deadline <= loop.time():
        return
    future = loop.create_future()
    handle = loop.call_at(deadline, _set_done, future)
    try:
        await future
    finally:
        handle.cancel()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FixedLatencyEngine:
    """Exact latency: token i of a request comes out at arrival + ttft + i * itl.

    Example::

        engine = FixedLatencyEngine(ttft=0.05, itl=0.01)
        async for i in engine.generate(prompt_tokens=10, output_tokens=3, arrival=loop.time()):
            ...  # i = 0 at +50 ms, 1 at +60 ms, 2 at +70 ms
    """

    def __init__(self, *, ttft: float, itl: float) -> None:
        self.ttft = ttft
        self.itl = itl
        self.active = 0
        self.queued = 0  # never queues
        self.peak_active = 0

    async def start(self) -> None:
        """Nothing to start: each request keeps its own schedule."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def generate(
        self, prompt_tokens: int, output_tokens: int, arrival: float
    ) -> AsyncIterator[int]:
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            first = arrival + self.ttft
            for i in range(output_tokens):
                await sleep_until(first + i * self.itl)
                yield i
        finally:
            self.active -= 1


class _Sequence:
    """One request inside the batching engine."""

    __slots__ = ("prompt_tokens", "length", "emitted", "waiter")

    def __init__(self, prompt_tokens: int, length: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.length = length
        self.emitted = 0  # tokens produced so far
        self.waiter: asyncio.Future[None] | None = None  # set while its handler waits


class BatchingEngine:
    """A continuous-batching model (like vLLM): shared decode steps over up to `max_batch` requests.

    One loop runs steps back to back while there is work, and sleeps (no polling) when there is
    none. Each step:

    1. admits queued requests (FIFO) into free slots, up to `max_batch` active;
    2. lasts (decode_base + decode_per_seq * n_active
              + sum over the newly admitted of (prefill_base + prefill_per_token * prompt_tokens))
       * (1 + uniform(-jitter, jitter)), slept until an absolute deadline;
    3. ends with every active request producing one token; requests that reach their length leave
       and free their slot.

    So a request's first token arrives after its queue wait plus its first (prefill) step.
    Aggregate tokens/s rises with concurrency up to max_batch (steps grow slower than the batch)
    and then flattens, while TTFT climbs steeply past max_batch (queueing).

    Example::

        engine = BatchingEngine(max_batch=8)
        await engine.start()
        async for i in engine.generate(prompt_tokens=100, output_tokens=16, arrival=loop.time()):
            ...
        await engine.stop()
    """

    def __init__(
        self,
        *,
        max_batch: int = 16,
        decode_base: float = 0.012,
        decode_per_seq: float = 0.0015,
        prefill_base: float = 0.005,
        prefill_per_token: float = 0.00005,
        jitter: float = 0.05,
        seed: int = 0,
    ) -> None:
        self.max_batch = max_batch
        self.decode_base = decode_base
        self.decode_per_seq = decode_per_seq
        self.prefill_base = prefill_base
        self.prefill_per_token = prefill_per_token
        self.jitter = jitter
        self._rng = random.Random(seed)
        # dicts as ordered sets: FIFO order and O(1) removal of a request that leaves early
        self._queue: dict[_Sequence, None] = {}
        self._active: dict[_Sequence, None] = {}
        self._work = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.peak_active = 0
        self.steps = 0

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        """Start the engine loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-engine")

    async def stop(self) -> None:
        """Stop the engine loop (requests still inside wait forever: stop the server first)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def generate(
        self, prompt_tokens: int, output_tokens: int, arrival: float
    ) -> AsyncIterator[int]:
        if self._task is None:
            raise RuntimeError("BatchingEngine.generate() before start()")
        seq = _Sequence(prompt_tokens, output_tokens)
        self._queue[seq] = None
        self._work.set()
        loop = asyncio.get_running_loop()
        try:
            delivered = 0
            while delivered < output_tokens:
                if seq.emitted > delivered:
                    # the handler may have been slow: hand over every token already produced
                    yield delivered
                    delivered += 1
                else:
                    seq.waiter = loop.create_future()
                    await seq.waiter
        finally:
            seq.waiter = None
            # gone early (disconnect, cancel): leave the batch or the queue now
            self._queue.pop(seq, None)
            self._active.pop(seq, None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            if not self._active and not self._queue:
                # idle: sleep until generate() adds work
                self._work.clear()
                await self._work.wait()
                deadline = None
            now = loop.time()
            # back to back steps start at the previous deadline (no drift), unless far behind
            start = now if deadline is None else max(deadline, now - MAX_CATCH_UP)

            duration = self.decode_base
            while self._queue and len(self._active) < self.max_batch:
                seq = next(iter(self._queue))
                del self._queue[seq]
                self._active[seq] = None
                duration += self.prefill_base + self.prefill_per_token * seq.prompt_tokens
            n_active = len(self._active)
            self.peak_active = max(self.peak_active, n_active)
            duration += self.decode_per_seq * n_active
            if self.jitter:
                duration *= 1.0 + self._rng.uniform(-self.jitter, self.jitter)
            deadline = start + duration
            await sleep_until(deadline)
            self.steps += 1

            finished = []
            for seq in self._active:
                seq.emitted += 1
                waiter = seq.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if seq.emitted >= seq.length:
                    finished.append(seq)
            for seq in finished:
                del self._active[seq]
