"""Drive any llmeter Endpoint (Bedrock, SageMaker, OpenAI SDK, LiteLLM, ...) with our Runner.

llmeter's endpoints are synchronous: `invoke(payload)` blocks until the answer is complete.
The adapter runs each call in a worker thread, so the event loop the clients, the stats and the
dashboard share is never blocked, and hands back our InvocationResponse. The timings are the
ones llmeter's endpoint measured inside its thread (so they match what llmeter reports); our
send/end stamps bracket the call from the event loop's side.

Needs only an object with llmeter's Endpoint interface; `pip install "llmeter-widget[llmeter]"`
brings the llmeter package itself.

Example (Amazon Bedrock: needs AWS credentials, so it is not run as a doctest; `await` as in
a notebook cell, `asyncio.run(Runner(ep, payload).run(...))` in a script)::

    from llmeter.endpoints import BedrockConverseStream
    from llmeter_widget import Runner
    from llmeter_widget.endpoints import LlmeterEndpoint

    ep = LlmeterEndpoint(BedrockConverseStream(model_id="..."))
    payload = BedrockConverseStream.create_payload("Tell me a story", max_tokens=256)
    result = await Runner(ep, payload).run(clients=8, run_duration=60)

tests/test_llmeter_adapter.py runs a small llmeter Endpoint of its own through the adapter
against the simulated server.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .base import InvocationResponse, utc_now

# Fields copied from llmeter's response as they are (same names, same meaning).
_COPIED = (
    "response_text", "id", "input_prompt", "time_to_first_token", "time_to_last_token",
    "num_tokens_input", "num_tokens_output", "num_tokens_input_cached",
    "num_tokens_output_reasoning", "time_per_output_token", "error", "retries", "request_time",
)
_HTTP_STATUS = re.compile(r"\b([45]\d\d)\b")


def classify_error(message: str) -> str:
    """Our error class for a wrapped endpoint's error text (llmeter keeps only the text).

    Example:
        >>> classify_error("ThrottlingException: Too many requests"), classify_error("HTTP 503")
        ('rate_limited', 'http_5xx')
    """
    lowered = message.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    if "throttl" in lowered or "rate limit" in lowered or "too many requests" in lowered:
        return "rate_limited"
    status = _HTTP_STATUS.search(message)
    if status:
        code = int(status.group(1))
        return "rate_limited" if code == 429 else ("http_5xx" if code >= 500 else "http_4xx")
    if "connect" in lowered:
        return "connect"
    return "other"


class LlmeterEndpoint:
    """Wraps an llmeter Endpoint so the Runner, LoadTest and Dashboard can drive it.

    Args:
        endpoint: an instance of an llmeter Endpoint subclass.
        max_threads: worker threads for the blocking calls (one per concurrent client is
            needed; threads are started only as clients need them).
    """

    provider: str

    def __init__(self, endpoint: Any, max_threads: int = 1024) -> None:
        if not callable(getattr(endpoint, "invoke", None)):
            raise ValueError(f"{endpoint!r} has no invoke(payload): pass an llmeter Endpoint.")
        self.inner = endpoint
        self.model_id = getattr(endpoint, "model_id", None) or "unknown"
        self.endpoint_name = getattr(endpoint, "endpoint_name", None) or type(endpoint).__name__
        self.provider = getattr(endpoint, "provider", None) or "llmeter"
        self._executor = ThreadPoolExecutor(max_workers=max_threads,
                                            thread_name_prefix="llmeter-endpoint")

    def __repr__(self) -> str:
        return f"LlmeterEndpoint({type(self.inner).__name__}, model={self.model_id!r})"

    def to_config(self) -> dict[str, Any]:
        """What run_config.json records: the wrapped class and its public names only."""
        return {
            "endpoint_type": f"LlmeterEndpoint({type(self.inner).__module__}.{type(self.inner).__name__})",
            "endpoint_name": self.endpoint_name,
            "model_id": self.model_id,
            "provider": self.provider,
        }

    async def invoke(self, session: Any, payload: dict) -> InvocationResponse:
        """Run the wrapped endpoint's blocking invoke in a worker thread; never blocks the loop.

        `session` is unused: llmeter's endpoints bring their own HTTP client. A cancelled run
        stops waiting at once (the thread finishes its call in the background).
        """
        response = InvocationResponse(input_payload=payload)
        response.request_time = utc_now()
        response.t_send = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            theirs = await loop.run_in_executor(self._executor, self.inner.invoke, payload)
        except asyncio.CancelledError:
            from .openai import RequestCancelled  # here: openai.py imports aiohttp machinery

            response.error, response.error_type = "cancelled while in flight", "cancelled"
            response.t_end = time.perf_counter()
            raise RequestCancelled(response) from None
        except Exception as exc:  # an endpoint that raises instead of returning an error
            response.error = f"{type(exc).__name__}: {exc}"
        else:
            for name in _COPIED:
                value = getattr(theirs, name, None)
                if value is not None:
                    setattr(response, name, value)
            extra = getattr(theirs, "annotations", None)
            if isinstance(extra, dict):
                response.annotations.update(extra)
        response.t_end = time.perf_counter()
        if response.error:
            response.error_type = classify_error(response.error)
            response.time_to_last_token = None
        return response.finalize()

    def close(self) -> None:
        """Let the worker threads go (they also go when the interpreter exits)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
